/**
 * @module Reading a file of a backed-up tree from its catalog entry, piece by piece, without
 * restoring it anywhere: what a whole restore writes (tree-restore.ts), what a download of a
 * backup's files sends, and what a disk file of a guest is merged from.
 */
import { LodgeError } from '../../api/errors.js';
import type { CatalogEntry } from './catalog.js';
import type { ChunkStore } from './chunks.js';

/** The last two chunks read, decoded: small files packed together read the same chunk in turn. */
export class ChunkCache {
  private readonly chunks: ChunkStore;
  private entries: [string, Buffer][] = [];
  constructor(chunks: ChunkStore) {
    this.chunks = chunks;
  }
  async get(id: string): Promise<Buffer> {
    const hit = this.entries.find(([k]) => k === id);
    if (hit) return hit[1];
    const data = await this.chunks.get(id);
    this.entries = [[id, data], ...this.entries.slice(0, 1)];
    return data;
  }
}

/**
 * A file's bytes in order, `e.size` of them: each piece is bytes of a chunk, or a count of
 * zero bytes that no chunk holds (an all-zero chunk, stored nowhere: a hole to leave).
 */
export async function* entryData(cache: ChunkCache, e: CatalogEntry, signal?: AbortSignal): AsyncGenerator<Buffer | number> {
  let pos = -(e.offset ?? 0);
  for (const [id, length] of e.data ?? []) {
    signal?.throwIfAborted();
    const from = Math.max(pos, 0);
    const to = Math.min(pos + length, e.size);
    if (to > from) {
      if (id === null) yield to - from;
      else {
        const data = await cache.get(id);
        if (data.length !== length) throw new LodgeError('BAD_REQUEST', `chunk ${id} holds ${data.length} bytes where the catalog says ${length} (for ${JSON.stringify(e.path.toString('utf8'))})`);
        yield data.subarray(from - pos, to - pos);
      }
    }
    pos += length;
    if (pos >= e.size) break;
  }
}
