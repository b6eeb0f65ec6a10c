/**
 * @module The client side of /1.0/networks.
 */
import type { Forward, ForwardPost, Network, NetworksPost } from '../api/networks.js';
import type { Transport } from './http.js';

export class NetworksClient {
  private readonly t: Transport;
  constructor(t: Transport) {
    this.t = t;
  }

  list = () => this.t.request<Network[]>('GET', '/1.0/networks');
  get = (name: string) => this.t.request<Network>('GET', `/1.0/networks/${encodeURIComponent(name)}`);
  create = (body: NetworksPost) => this.t.request<Network>('POST', '/1.0/networks', { body });
  delete = (name: string) => this.t.request<void>('DELETE', `/1.0/networks/${encodeURIComponent(name)}`);
  /** A guest's forwards, or every guest's without one. */
  forwards = (guest?: string) => this.t.request<Forward[]>('GET', guest === undefined ? '/1.0/forwards' : `/1.0/guests/${encodeURIComponent(guest)}/forwards`);
  addForward = (guest: string, body: ForwardPost) => this.t.request<Forward>('POST', `/1.0/guests/${encodeURIComponent(guest)}/forwards`, { body });
  removeForward = (guest: string, proto: 'tcp' | 'udp', hostPort: number) =>
    this.t.request<void>('DELETE', `/1.0/guests/${encodeURIComponent(guest)}/forwards/${proto}/${hostPort}`);
}
