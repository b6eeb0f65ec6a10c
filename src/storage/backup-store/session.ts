/**
 * @module One backup writer's use of the chunk store: puts and reuses chunks, touching
 * each reused chunk once (what keeps it alive through a concurrent gc), and remembers the
 * directories it wrote into so that commit can make them durable before the manifest.
 */
import type { ChunkStore } from './chunks.js';

export interface ChunkCounts {
  chunksNew: number;
  chunksReused: number;
  bytesStored: number;
}

export class WriteSession {
  readonly chunks: ChunkStore;
  readonly written = new Set<string>();
  private readonly present = new Set<string>();

  constructor(chunks: ChunkStore) {
    this.chunks = chunks;
  }

  /** Stores `data` (or finds it there) and counts what it cost into `counts`. */
  async put(data: Uint8Array, counts: ChunkCounts): Promise<string> {
    const r = await this.chunks.put(data, this.written);
    if (r.storedBytes > 0 && !this.present.has(r.id)) {
      counts.chunksNew++;
      counts.bytesStored += r.storedBytes;
    } else {
      counts.chunksReused++;
    }
    this.present.add(r.id);
    return r.id;
  }

  /** Keeps a chunk of an earlier backup for this one; false when it is gone (then the caller reads the source). */
  async reuse(id: string, counts: ChunkCounts): Promise<boolean> {
    if (!this.present.has(id)) {
      if (!(await this.chunks.touch(id))) return false;
      this.present.add(id);
    }
    counts.chunksReused++;
    return true;
  }
}

export const isZero = (buf: Uint8Array, zeros: Buffer) => Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).equals(zeros.subarray(0, buf.byteLength));
