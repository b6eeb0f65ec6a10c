/**
 * @module Disk images as fixed-size chunks (PBS's .fidx): back up a DiskSource into a
 * fixed index, incrementally (only the dirty chunks of a previous index are read), and
 * restore an index into a file (sparse: all-zero chunks become holes) or a block device.
 *
 * A DiskSource is anything that reads (offset, length): a file (fileDiskSource), an
 * NBD-exported qcow2, a merge of a UML COW file over its base. It may answer 'zero' for a
 * range it knows to be unallocated; otherwise all-zero chunks are found by comparing.
 */
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { LodgeError } from '../../api/errors.js';
import type { ChunkStore } from './chunks.js';
import { zeroId, type FixedIndex } from './index-files.js';
import { isZero, type ChunkCounts, type WriteSession } from './session.js';

export interface DiskSource {
  /** Bytes in the disk. */
  readonly size: number;
  /** The bytes at [offset, offset + length), or 'zero' when the source knows they are all zeros. */
  read(offset: number, length: number): Promise<Uint8Array | 'zero'>;
}

/** Progress of a long call: bytes done out of bytes to do (total undefined when not known beforehand). */
export type Progress = (p: { done: number; total?: number }) => void;

export interface DiskBackupOptions {
  /** The previous backup's index of this disk: chunks not in `dirty` reuse its ids. */
  previous?: FixedIndex;
  /** Chunk numbers changed since `previous` (from a QEMU dirty bitmap); without it every chunk is read. */
  dirty?: Iterable<number>;
  signal?: AbortSignal;
  onProgress?: Progress;
}

export interface DiskBackupResult extends ChunkCounts {
  index: FixedIndex;
  bytesRead: number;
}

/** A DiskSource over a file or block device; `size` is needed for a block device (fstat says 0). */
export async function fileDiskSource(file: string, size?: number): Promise<DiskSource & { close(): Promise<void> }> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  const st = await fh.stat();
  const bytes = size ?? st.size;
  if (!st.isFile() && size === undefined) {
    await fh.close();
    throw new LodgeError('BAD_REQUEST', `${file} is not a regular file: give its size`);
  }
  return {
    size: bytes,
    async read(offset, length) {
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      // a file shorter than it said (it shrank): the rest reads as zeros
      buf.fill(0, got);
      return buf;
    },
    close: () => fh.close(),
  };
}

export async function backupDisk(session: WriteSession, source: DiskSource, chunkSize: number, opts: DiskBackupOptions = {}): Promise<DiskBackupResult> {
  const { previous, signal, onProgress } = opts;
  const count = Math.ceil(source.size / chunkSize);
  const ids: string[] = new Array<string>(count).fill(zeroId);
  const result: DiskBackupResult = { index: { size: source.size, chunkSize, chunks: ids }, bytesRead: 0, chunksNew: 0, chunksReused: 0, bytesStored: 0 };
  const usable = previous && previous.chunkSize === chunkSize ? previous : undefined;
  // a chunk is read when no previous id can stand for it: dirty, new, or the previous disk's partial last chunk
  const toRead = new Set<number>();
  const dirty = usable && opts.dirty ? new Set(opts.dirty) : undefined;
  const lengthOf = (i: number) => Math.min(chunkSize, source.size - i * chunkSize);
  for (let i = 0; i < count; i++) {
    const end = i * chunkSize + lengthOf(i);
    if (!usable || !dirty || dirty.has(i) || end > usable.size || (i === count - 1 && source.size !== usable.size)) toRead.add(i);
  }
  const zeros = Buffer.alloc(chunkSize);
  let done = 0;
  const report = (n: number) => {
    done += n;
    onProgress?.({ done, total: source.size });
  };
  for (let i = 0; i < count; i++) {
    signal?.throwIfAborted();
    if (toRead.has(i)) continue;
    const id = usable!.chunks[i]!;
    if (id === zeroId || (await session.reuse(id, result))) {
      ids[i] = id;
      report(lengthOf(i));
    } else {
      toRead.add(i);
    }
  }
  const order = [...toRead].sort((a, b) => a - b);
  const readAt = (i: number) => source.read(i * chunkSize, lengthOf(i));
  // one read ahead, so that reading the source overlaps hashing, compressing and writing
  let next = order.length > 0 ? readAt(order[0]!) : undefined;
  for (let k = 0; k < order.length; k++) {
    signal?.throwIfAborted();
    const i = order[k]!;
    const data = await next!;
    next = k + 1 < order.length ? readAt(order[k + 1]!) : undefined;
    next?.catch(() => undefined);
    const length = lengthOf(i);
    if (data !== 'zero') {
      if (data.length !== length) throw new LodgeError('INTERNAL', `the disk source gave ${data.length} bytes for chunk ${i}, not ${length}`);
      result.bytesRead += length;
      if (!isZero(data, zeros)) ids[i] = await session.put(data, result);
    }
    report(length);
  }
  return result;
}

export interface DiskRestoreOptions {
  signal?: AbortSignal;
  onProgress?: Progress;
}

/**
 * Writes a disk back. A regular file is created (or emptied) and zero chunks stay holes;
 * a block device gets every chunk written, zeros included.
 */
export async function restoreDisk(chunks: ChunkStore, index: FixedIndex, target: string, opts: DiskRestoreOptions = {}): Promise<void> {
  const existing = await stat(target).catch(() => undefined);
  const device = existing?.isBlockDevice() ?? false;
  const flags = device ? constants.O_WRONLY : constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
  const fh = await open(target, flags, 0o600);
  try {
    if (!device) await fh.truncate(index.size);
    const zeros = device ? Buffer.alloc(index.chunkSize) : undefined;
    const fetch = (i: number) => (index.chunks[i] === zeroId ? undefined : chunks.get(index.chunks[i]!));
    let next = fetch(0);
    let done = 0;
    for (let i = 0; i < index.chunks.length; i++) {
      opts.signal?.throwIfAborted();
      const pending = next;
      next = i + 1 < index.chunks.length ? fetch(i + 1) : undefined;
      next?.catch(() => undefined);
      const length = Math.min(index.chunkSize, index.size - i * index.chunkSize);
      const data = pending ? await pending : zeros?.subarray(0, length);
      if (data) {
        if (data.length !== length) throw new LodgeError('BAD_REQUEST', `chunk ${index.chunks[i]} holds ${data.length} bytes where the index says ${length}`);
        await fh.write(data, 0, length, i * index.chunkSize);
      }
      done += length;
      opts.onProgress?.({ done, total: index.size });
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}
