/**
 * @module The client side of the history lodged keeps: the host's and a guest's.
 */
import type { GuestHistory, HostHistory } from '../api/history.js';
import type { Transport } from './http.js';

export class HistoryClient {
  private readonly t: Transport;
  constructor(t: Transport) {
    this.t = t;
  }

  host = () => this.t.request<HostHistory>('GET', '/1.0/history');
  guest = (name: string) => this.t.request<GuestHistory>('GET', `/1.0/guests/${encodeURIComponent(name)}/history`);
}
