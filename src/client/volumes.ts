/**
 * @module The client side of /1.0/volumes and of a guest's volumes.
 */
import type { GuestVolumePost, Volume, VolumesPost } from '../api/volumes.js';
import type { Transport } from './http.js';

export class VolumesClient {
  private readonly t: Transport;
  constructor(t: Transport) {
    this.t = t;
  }

  list = () => this.t.request<Volume[]>('GET', '/1.0/volumes');
  get = (name: string) => this.t.request<Volume>('GET', `/1.0/volumes/${encodeURIComponent(name)}`);
  create = (body: VolumesPost) => this.t.request<Volume>('POST', '/1.0/volumes', { body });
  delete = (name: string) => this.t.request<void>('DELETE', `/1.0/volumes/${encodeURIComponent(name)}`);
  attach = (guest: string, body: GuestVolumePost) => this.t.request<Volume>('POST', `/1.0/guests/${encodeURIComponent(guest)}/volumes`, { body });
  detach = (guest: string, volume: string) => this.t.request<void>('DELETE', `/1.0/guests/${encodeURIComponent(guest)}/volumes/${encodeURIComponent(volume)}`);
}
