/**
 * @module The client side of a guest's snapshots.
 */
import type { Operation } from '../api/operations.js';
import type { Snapshot, SnapshotsPost } from '../api/snapshots.js';
import type { Transport } from './http.js';

const base = (guest: string) => `/1.0/guests/${encodeURIComponent(guest)}`;

export class SnapshotsClient {
  private readonly t: Transport;
  constructor(t: Transport) {
    this.t = t;
  }

  list = (guest: string) => this.t.request<Snapshot[]>('GET', `${base(guest)}/snapshots`);
  get = (guest: string, name: string) => this.t.request<Snapshot>('GET', `${base(guest)}/snapshots/${encodeURIComponent(name)}`);
  create = (guest: string, body: SnapshotsPost) => this.t.request<Operation>('POST', `${base(guest)}/snapshots`, { body });
  restore = (guest: string, name: string) => this.t.request<Operation>('POST', `${base(guest)}/snapshots/${encodeURIComponent(name)}/restore`);
  delete = (guest: string, name: string) => this.t.request<void>('DELETE', `${base(guest)}/snapshots/${encodeURIComponent(name)}`);
}
