/**
 * @module The client side of /1.0/images.
 */
import type { Readable } from 'node:stream';
import type { Image, ImageImportQuery, ImagesBuildPost } from '../api/images.js';
import type { Operation } from '../api/operations.js';
import type { Transport } from './http.js';

export class ImagesClient {
  private readonly t: Transport;
  constructor(t: Transport) {
    this.t = t;
  }

  list = () => this.t.request<Image[]>('GET', '/1.0/images');
  get = (name: string) => this.t.request<Image>('GET', `/1.0/images/${encodeURIComponent(name)}`);
  build = (body: ImagesBuildPost) => this.t.request<Operation>('POST', '/1.0/images/build', { body });
  delete = (name: string) => this.t.request<void>('DELETE', `/1.0/images/${encodeURIComponent(name)}`);
  import = (query: ImageImportQuery, data: Readable) => {
    const q = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined));
    return this.t.request<Operation>('POST', `/1.0/images/import?${q}`, { stream: { data, contentType: 'application/octet-stream' } });
  };
}
