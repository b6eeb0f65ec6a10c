/**
 * @module The client side of /1.0/storage-pools.
 */
import type { StoragePool, StoragePoolsPost } from '../api/storage.js';
import type { Transport } from './http.js';

export class StorageClient {
  private readonly t: Transport;
  constructor(t: Transport) {
    this.t = t;
  }

  list = () => this.t.request<StoragePool[]>('GET', '/1.0/storage-pools');
  get = (name: string) => this.t.request<StoragePool>('GET', `/1.0/storage-pools/${encodeURIComponent(name)}`);
  create = (body: StoragePoolsPost) => this.t.request<StoragePool>('POST', '/1.0/storage-pools', { body });
  delete = (name: string) => this.t.request<void>('DELETE', `/1.0/storage-pools/${encodeURIComponent(name)}`);
}
