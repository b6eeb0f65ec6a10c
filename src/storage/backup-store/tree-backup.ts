/**
 * @module Backing up a file tree: walk it without following a symlink, record every
 * entry in a catalog, and store file data as content-defined chunks.
 *
 * Small files (under the minimum chunk size) are packed one after another into one
 * shared stream, itself cut by content: a directory of many small files becomes a few
 * ~1 MiB chunks instead of one chunk file each (a chunk file per small file costs a
 * create, an fsync and a rename each, and an inode in the store), and since the stream
 * is cut by content, the same files in the same order in another guest still give the
 * same chunks. A file's catalog entry then says which chunks hold it, and from which
 * offset. Larger files are cut on their own, so that they dedup wherever they appear.
 *
 * Incremental: a file whose size, mtime, ctime and inode equal the previous catalog's is
 * not read; its chunks are reused (and touched). All-zero chunks are recorded as zeros and
 * not stored. A sparse file's holes are not read at all (a pv guest's COW file is as large
 * as its disk and mostly holes): its data extents are asked for (extents.ts) and only they
 * are read, the holes going into the chunker as zeros that it cuts exactly where it would
 * cut the same zeros read (cdc.ts), so its chunks are the same whether its zeros are holes
 * or allocated, and dedup with a copy of it, or a backup, that read them.
 *
 * Extended attributes (xattrs.ts) are read for the whole tree in one run before the walk
 * and recorded with each entry, whether its data is read or reused: never taken from the
 * previous catalog, so an attribute changed on an unchanged file is the new one.
 *
 * The tree is hostile: names may hold any byte, files may change or be swapped while
 * read (a file is opened O_NOFOLLOW|O_NONBLOCK and must still be the inode lstat saw; at
 * most its lstat size is read). A directory swapped for a symlink between lstat and
 * readdir would be followed: back up a snapshot, never a tree a guest is writing.
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { LodgeError } from '../../api/errors.js';
import { encodeEntry, catalogHeader, type CatalogEntry, type DataRef, type EntryType, type Xattr } from './catalog.js';
import { CdcStream, type CdcParams } from './cdc.js';
import type { Progress } from './disk.js';
import { dataExtents, type Extent } from './extents.js';
import { errnoIs } from './fs-util.js';
import type { ChunkList, ChunkRef } from './index-files.js';
import { isZero, type ChunkCounts, type WriteSession } from './session.js';
import { readTreeXattrs } from './xattrs.js';

export interface TreeBackupOptions {
  /** The previous backup's catalog of this tree. */
  previous?: AsyncIterable<CatalogEntry>;
  /** Do not descend into other filesystems mounted in the tree (default true). */
  oneFileSystem?: boolean;
  signal?: AbortSignal;
  onProgress?: Progress;
}

export interface TreeBackupResult extends ChunkCounts {
  catalog: ChunkList;
  entries: number;
  /** The sum of the files' sizes. */
  size: number;
  bytesRead: number;
}

const slash = Buffer.from('/');
const join = (a: Buffer, b: Buffer) => (a.length === 0 ? b : Buffer.concat([a, slash, b]));
const catalogFlushBytes = 256 * 1024;
/** A file with at least this many bytes unallocated has its holes skipped (finding them costs a program run). */
const sparseBytes = 8 * 1024 * 1024;

function typeOf(st: BigIntStats): EntryType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

/** The shared stream small files are packed into, and which of its chunks hold which bytes. */
class Packer {
  readonly stream: CdcStream;
  appended = 0;
  cut = 0;
  private window: { start: number; ref: DataRef }[] = [];
  private readonly store: (c: Buffer) => Promise<DataRef>;

  constructor(p: CdcParams, store: (c: Buffer) => Promise<DataRef>) {
    this.stream = new CdcStream(p);
    this.store = store;
  }

  async add(data: Buffer, final = false): Promise<number> {
    const start = this.appended;
    for (const c of this.stream.append(data)) await this.take(c);
    this.appended += data.length;
    if (final) for (const c of this.stream.chunks(true)) await this.take(c);
    return start;
  }

  private async take(c: Buffer): Promise<void> {
    this.window.push({ start: this.cut, ref: await this.store(c) });
    this.cut += c.length;
  }

  /** The chunks holding [start, end) and the offset of start in the first; needs end <= cut. */
  refs(start: number, end: number): { data: DataRef[]; offset: number } {
    const data: DataRef[] = [];
    let offset = 0;
    for (const w of this.window) {
      const wEnd = w.start + w.ref[1];
      if (wEnd <= start || w.start >= end) continue;
      if (data.length === 0) offset = start - w.start;
      data.push(w.ref);
    }
    return { data, offset };
  }

  /** Forgets chunks that end before `pos` (no waiting entry needs them). */
  drop(pos: number): void {
    let k = 0;
    while (k < this.window.length && this.window[k]!.start + this.window[k]!.ref[1] <= pos) k++;
    if (k > 0) this.window = this.window.slice(k);
  }
}

export async function backupTree(session: WriteSession, root: string, cdc: CdcParams, opts: TreeBackupOptions = {}): Promise<TreeBackupResult> {
  const { signal, onProgress } = opts;
  const result: TreeBackupResult = { catalog: { size: 0, chunks: [] }, entries: 0, size: 0, bytesRead: 0, chunksNew: 0, chunksReused: 0, bytesStored: 0 };
  const previous = new Map<string, CatalogEntry>();
  if (opts.previous) for await (const e of opts.previous) if (e.type === 'file') previous.set(e.path.toString('latin1'), e);

  const zeros = Buffer.alloc(cdc.max);
  const storeData = async (c: Buffer): Promise<DataRef> => [isZero(c, zeros) ? null : await session.put(c, result), c.length];
  let done = 0;
  const progress = (n: number) => {
    done += n;
    onProgress?.({ done });
  };

  // the catalog, itself cut by content
  const catalogStream = new CdcStream(cdc);
  let text = catalogHeader;
  const catalogChunks: ChunkRef[] = [];
  const flushCatalog = async (final: boolean) => {
    const bytes = Buffer.from(text, 'utf8');
    text = '';
    result.catalog.size += bytes.length;
    for (const c of catalogStream.append(bytes)) catalogChunks.push({ id: await session.put(c, result), length: c.length });
    if (final) for (const c of catalogStream.chunks(true)) catalogChunks.push({ id: await session.put(c, result), length: c.length });
  };

  // entries wait here, in order, until the packed bytes of each are cut into chunks
  const packer = new Packer(cdc, storeData);
  const queue: { entry: CatalogEntry; packed?: [number, number] }[] = [];
  const drain = async () => {
    while (queue.length > 0) {
      const head = queue[0]!;
      if (head.packed) {
        if (head.packed[1] > packer.cut) break;
        Object.assign(head.entry, packer.refs(head.packed[0], head.packed[1]));
      }
      queue.shift();
      text += encodeEntry(head.entry);
      result.entries++;
      if (text.length >= catalogFlushBytes) await flushCatalog(false);
    }
    packer.drop(queue.find((q) => q.packed)?.packed![0] ?? packer.cut);
  };

  const bigStream = new CdcStream(cdc);
  const hardlinks = new Map<string, Buffer>();
  /** Read once the root is known to be a directory. */
  let xattrs = new Map<string, Xattr[]>();

  /** Reads a regular file's data into the entry (packed or as its own chunks); false when it vanished or was swapped. */
  const readFile = async (abs: Buffer, st: BigIntStats, entry: CatalogEntry): Promise<[number, number] | undefined | false> => {
    let fh;
    try {
      fh = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      if (errnoIs(e, 'ENOENT', 'ELOOP', 'ENXIO')) return false;
      throw e;
    }
    try {
      const now = await fh.stat({ bigint: true });
      if (!now.isFile() || now.ino !== st.ino || now.dev !== st.dev) return false;
      const want = Number(st.size);
      if (want < cdc.min) {
        const buf = Buffer.allocUnsafe(want);
        let got = 0;
        while (got < want) {
          const { bytesRead } = await fh.read(buf, got, want - got, got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        entry.size = got;
        result.bytesRead += got;
        progress(got);
        if (got === 0) return undefined;
        const start = await packer.add(buf.subarray(0, got));
        return [start, start + got];
      }
      bigStream.reset();
      const data: DataRef[] = [];
      const take = async (chunks: Iterable<Buffer | number>) => {
        for (const c of chunks) data.push(typeof c === 'number' ? [null, c] : await storeData(c));
      };
      let got = 0;
      const skipTo = async (to: number) => {
        if (to <= got) return;
        await take(bigStream.zeros(to - got));
        progress(to - got);
        got = to;
      };
      const extents: AsyncIterable<Extent> | Extent[] = want - Number(now.blocks) * 512 >= sparseBytes ? dataExtents(fh, want, abs.toString()) : [[0, want]];
      reading: {
        for await (const [from, to] of extents) {
          await skipTo(from);
          while (got < to) {
            signal?.throwIfAborted();
            const room = bigStream.space();
            const { bytesRead } = await fh.read(room, 0, Math.min(room.length, to - got), got);
            if (bytesRead === 0) break reading; // cut short meanwhile: it ends here
            bigStream.commit(bytesRead);
            got += bytesRead;
            result.bytesRead += bytesRead;
            progress(bytesRead);
            await take(bigStream.chunks(false));
          }
        }
        await skipTo(want);
      }
      await take(bigStream.chunks(true));
      entry.size = got;
      entry.data = data;
      entry.offset = 0;
      return undefined;
    } finally {
      await fh.close();
    }
  };

  const visit = async (abs: Buffer, rel: Buffer, st: BigIntStats, rootDev: bigint): Promise<void> => {
    signal?.throwIfAborted();
    const type = typeOf(st);
    const entry: CatalogEntry = {
      path: rel,
      type,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtimeNs: st.mtimeNs,
      ctimeNs: st.ctimeNs,
      size: type === 'file' ? Number(st.size) : 0,
      ino: st.ino,
    };
    let packed: [number, number] | undefined;
    if (type !== 'dir' && st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = hardlinks.get(key);
      if (first) {
        entry.type = 'hardlink';
        entry.target = first;
        entry.size = 0;
      } else {
        hardlinks.set(key, rel);
      }
    }
    const attrs = xattrs.get(rel.toString('latin1'));
    if (attrs && entry.type !== 'hardlink') entry.xattrs = attrs;
    if (entry.type === 'symlink') entry.target = await readlink(abs, { encoding: 'buffer' });
    if (entry.type === 'chardev' || entry.type === 'blockdev') entry.rdev = st.rdev;
    if (entry.type === 'file') {
      result.size += entry.size;
      const prev = previous.get(rel.toString('latin1'));
      let reused = false;
      if (prev && prev.size === entry.size && prev.mtimeNs === entry.mtimeNs && prev.ctimeNs === entry.ctimeNs && prev.ino === entry.ino) {
        reused = true;
        for (const [id] of prev.data ?? []) if (id !== null && !(await session.reuse(id, result))) reused = false;
        if (reused) {
          if (prev.data) entry.data = prev.data;
          if (prev.offset) entry.offset = prev.offset;
          progress(entry.size);
        }
      }
      if (!reused && entry.size > 0) {
        const read = await readFile(abs, st, entry);
        if (read === false) return; // vanished or swapped while we looked: not in this backup
        packed = read;
      }
    }
    queue.push({ entry, packed });
    await drain();
    if (type === 'dir' && (opts.oneFileSystem === false || st.dev === rootDev)) {
      let names: Buffer[];
      try {
        names = await readdir(abs, { encoding: 'buffer' });
      } catch (e) {
        if (errnoIs(e, 'ENOENT', 'ENOTDIR')) return;
        throw new LodgeError('INTERNAL', `Failed listing ${abs.toString()}`, { cause: e });
      }
      names.sort(Buffer.compare);
      for (const name of names) {
        const childAbs = join(abs, name);
        let cst: BigIntStats;
        try {
          cst = await lstat(childAbs, { bigint: true });
        } catch (e) {
          if (errnoIs(e, 'ENOENT')) continue;
          throw new LodgeError('INTERNAL', `Failed reading ${childAbs.toString()}`, { cause: e });
        }
        await visit(childAbs, join(rel, name), cst, rootDev);
      }
    }
  };

  const rootAbs = Buffer.from(root);
  const rootSt = await lstat(rootAbs, { bigint: true });
  if (!rootSt.isDirectory()) throw new LodgeError('BAD_REQUEST', `${root} is not a directory`);
  xattrs = await readTreeXattrs(root, { oneFileSystem: opts.oneFileSystem !== false, ...(signal ? { signal } : {}) });
  await visit(rootAbs, Buffer.alloc(0), rootSt, rootSt.dev);
  await packer.add(Buffer.alloc(0), true);
  await drain();
  if (queue.length > 0) throw new LodgeError('INTERNAL', 'catalog entries left unresolved after the last packed chunk');
  await flushCatalog(true);
  result.catalog.chunks = catalogChunks;
  return result;
}
