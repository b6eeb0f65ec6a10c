/**
 * @module For the store's tests: catalog entries made by hand, and a catalog of them.
 */
import type { CatalogEntry } from './catalog.js';

export const entry = (p: string, type: CatalogEntry['type'], more: Partial<CatalogEntry> = {}): CatalogEntry => ({
  path: Buffer.from(p),
  type,
  mode: 0o755,
  uid: 0,
  gid: 0,
  mtimeNs: 0n,
  ctimeNs: 0n,
  size: 0,
  ino: 1n,
  ...more,
});

export async function* entries(list: CatalogEntry[]): AsyncGenerator<CatalogEntry> {
  yield* list;
}
