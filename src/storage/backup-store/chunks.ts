/**
 * @module The chunk files of a store: put (dedup: a chunk already there is not written
 * again, only touched, which is what keeps it alive through a concurrent gc), get (read,
 * decode, and check that the bytes hash to the id asked for), and where a chunk lives.
 */
import { mkdir, open, rename, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { ChunkError, decodeChunk, encodeChunk } from './chunk-codec.js';
import { errnoIs, fsyncDir, tempNameFor } from './fs-util.js';
import { maxChunkBytes, paths, type ChunkParameters } from './format.js';
import { chunkIdOf, type StoreKeys } from './keys.js';

export const idHexPattern = /^[0-9a-f]{64}$/;

export interface PutResult {
  id: string;
  /** Bytes written to the store (0 when the chunk was there already). */
  storedBytes: number;
}

export class ChunkStore {
  readonly dir: string;
  readonly params: ChunkParameters;
  readonly keys: StoreKeys | undefined;
  /** Fan-out directories known to exist (and, for the current writer, those written into). */
  private readonly madeDirs = new Set<string>();

  constructor(root: string, params: ChunkParameters, keys: StoreKeys | undefined) {
    this.dir = paths.chunks(root);
    this.params = params;
    this.keys = keys;
  }

  idOf(data: Uint8Array): Buffer {
    return chunkIdOf(data, this.keys?.ids);
  }

  dirOf(id: string): string {
    return path.join(this.dir, id.slice(0, this.params.dirDigits));
  }

  pathOf(id: string): string {
    if (!idHexPattern.test(id)) throw new ChunkError(id, 'is not a chunk id (64 hex digits)');
    return path.join(this.dirOf(id), id);
  }

  /** Marks a chunk as in use now; false when it does not exist. */
  async touch(id: string): Promise<boolean> {
    const now = new Date();
    try {
      await utimes(this.pathOf(id), now, now);
      return true;
    } catch (e) {
      if (errnoIs(e, 'ENOENT')) return false;
      throw e;
    }
  }

  /**
   * Stores a chunk unless it is there. Its file is fsynced before the rename; `written`
   * collects the directories renamed into, for the caller to fsync before it commits.
   */
  async put(data: Uint8Array, written?: Set<string>): Promise<PutResult> {
    const idBuf = this.idOf(data);
    const id = idBuf.toString('hex');
    if (await this.touch(id)) return { id, storedBytes: 0 };
    const dir = this.dirOf(id);
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    const file = path.join(dir, id);
    const parts = encodeChunk(data, idBuf, { cipher: this.keys?.cipher, level: this.params.level });
    const temp = tempNameFor(file);
    let storedBytes = 0;
    try {
      const fh = await open(temp, 'wx', 0o644);
      try {
        const { bytesWritten } = await fh.writev(parts);
        storedBytes = bytesWritten;
        const total = parts.reduce((n, p) => n + p.length, 0);
        // a regular file takes fewer bytes than given only when its filesystem is full
        if (bytesWritten !== total) throw Object.assign(new Error(`no space left on device: short write to ${temp} (${bytesWritten} of ${total} bytes)`), { code: 'ENOSPC' });
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await rename(temp, file);
    } catch (e) {
      await unlink(temp).catch(() => undefined);
      throw e;
    }
    written?.add(dir);
    return { id, storedBytes };
  }

  /** Makes the renames of put() durable. */
  async syncDirs(dirs: Iterable<string>): Promise<void> {
    for (const d of dirs) await fsyncDir(d);
  }

  /** The raw chunk file, size-capped. */
  async readFile(id: string): Promise<Buffer> {
    let fh;
    try {
      fh = await open(this.pathOf(id), 'r');
    } catch (e) {
      if (errnoIs(e, 'ENOENT')) throw new ChunkError(id, 'is missing from the store', { cause: e });
      throw new ChunkError(id, 'cannot be opened', { cause: e });
    }
    try {
      const { size } = await fh.stat();
      if (size > maxChunkBytes + 64) throw new ChunkError(id, `file is ${size} bytes, larger than any chunk`);
      const buf = Buffer.allocUnsafe(size);
      let off = 0;
      while (off < size) {
        const { bytesRead } = await fh.read(buf, off, size - off, off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      return buf.subarray(0, off);
    } finally {
      await fh.close();
    }
  }

  /** A chunk's plaintext, checked against its id. */
  async get(id: string): Promise<Buffer> {
    const file = await this.readFile(id);
    const idBuf = Buffer.from(id, 'hex');
    const data = decodeChunk(file, idBuf, { cipher: this.keys?.cipher, level: this.params.level });
    if (!this.idOf(data).equals(idBuf)) throw new ChunkError(id, 'does not hash to its id (damaged)');
    return data;
  }
}
