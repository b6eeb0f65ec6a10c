/**
 * @module A pv guest's root disk whole, as its guest sees it, both ways: read (the sectors
 * its COW file's bitmap marks from the COW file, the rest from the base it was written
 * over), and written back as a new COW file over a base. So a pv backup holds the disk
 * itself, with the COW file's bitmap and base beside it (its map), and restores over
 * whatever base of its image the restoring host has:
 * - over the very base it was read over, as it was: the same bitmap, the marked sectors
 *   from the disk (the guest's COW file as UML made it, thin);
 * - over any other: every sector marked, the whole disk in the COW file. Marking only where
 *   the disk differs from that base would be thin too, but UML 6.1 misreads it: a read
 *   whose pages mix marked and unmarked sectors advances by the last run only (do_io's
 *   `req->offset += len`), and the pages after come from the wrong place (seen: a busybox
 *   that segfaults, its disk read back whole byte for byte).
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { LodgeError } from '../../api/errors.js';
import type { DiskSource } from '../../storage/backup-store/disk.js';
import { dataExtents, type Extent } from '../../storage/backup-store/extents.js';
import { cowHeader, cowHeaderBytes, cowLayout, layoutHeader, setRuns, type CowHeader } from './cow.js';

/** A base as a COW file names it: its path, and its mtime (seconds) and size when the COW file was made. */
export interface BaseIdentity {
  file: string;
  mtime: number;
  size: number;
}

export const baseIdentity = (file: string, st: { mtimeMs: number; size: number }): BaseIdentity => ({ file, mtime: Math.floor(st.mtimeMs / 1000), size: st.size });

const stepBytes = 1024 * 1024;

/** Opens a file to read that must be a regular file with one name (a COW file is its UML's, which could have made it anything). */
async function openRegular(file: string, what: string): Promise<FileHandle> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((e: NodeJS.ErrnoException) => {
    throw new LodgeError('CONFLICT', `${what} (${file}) cannot be opened (${e.code ?? e.message})`);
  });
  const st = await fh.stat();
  if (!st.isFile() || st.nlink !== 1) {
    await fh.close();
    throw new LodgeError('CONFLICT', `${what} (${file}) is not a regular file with one name`);
  }
  return fh;
}

/** Reads [at, at + length) of `fh` into `buf` at `into`; what lies past the file's end stays as it was (zeros). */
async function readInto(fh: FileHandle, buf: Buffer, into: number, length: number, at: number): Promise<void> {
  for (let got = 0; got < length; ) {
    const { bytesRead } = await fh.read(buf, into + got, length - got, at + got);
    if (bytesRead === 0) return;
    got += bytesRead;
  }
}

/** The parts of sorted, disjoint `extents` within [from, to). */
function within(extents: Extent[], from: number, to: number): Extent[] {
  let lo = 0;
  let hi = extents.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (extents[mid]![1] <= from) lo = mid + 1;
    else hi = mid;
  }
  const out: Extent[] = [];
  for (let i = lo; i < extents.length && extents[i]![0] < to; i++) out.push([Math.max(extents[i]![0], from), Math.min(extents[i]![1], to)]);
  return out;
}

async function collect(extents: AsyncIterable<Extent>): Promise<Extent[]> {
  const out: Extent[] = [];
  for await (const e of extents) out.push(e);
  return out;
}

/**
 * The header and bitmap of a COW file, which must have been written over `base` as it is
 * (its mtime and size): a file of another layout or over another base is refused, before
 * its bitmap (whose length its size decides) is read.
 */
async function readCowMap(fh: FileHandle, base: BaseIdentity, what: string): Promise<{ header: CowHeader; bitmap: Buffer }> {
  const head = Buffer.alloc(cowHeaderBytes);
  await readInto(fh, head, 0, head.length, 0);
  let header: CowHeader;
  try {
    header = layoutHeader(head);
  } catch (e) {
    throw new LodgeError('CONFLICT', `${what}: ${(e as Error).message}`);
  }
  // the caller found `base` by the name the header gives: the base must be as it was then
  if (header.mtime !== base.mtime || header.size !== base.size) {
    throw new LodgeError('CONFLICT', `${what} was written over ${header.backingFile} as it was at ${header.mtime} with ${header.size} bytes; ${base.file} is of ${base.mtime} with ${base.size} bytes`);
  }
  const { bitmapOffset, dataOffset } = cowLayout(header.size);
  const bitmap = Buffer.alloc(dataOffset - bitmapOffset);
  await readInto(fh, bitmap, 0, bitmap.length, bitmapOffset);
  return { header, bitmap };
}

/** The header and bitmap of COW file `file`, as readCowMap. */
export async function readCowFile(file: string, base: BaseIdentity, what: string): Promise<{ header: CowHeader; bitmap: Buffer }> {
  const fh = await openRegular(file, what);
  try {
    return await readCowMap(fh, base, what);
  } finally {
    await fh.close();
  }
}

/**
 * The disk a COW file and its base make, read-only, as its guest sees it. Holes of both
 * files are known beforehand (lodge-extents), and a range that is a hole in what it would be
 * read from reads as 'zero' without reading.
 */
export async function openCowDisk(cowFile: string, base: BaseIdentity, what: string): Promise<DiskSource & { layout: Buffer; close(): Promise<void> }> {
  const cow = await openRegular(cowFile, what);
  let baseFh: FileHandle | undefined;
  try {
    const { header, bitmap } = await readCowMap(cow, base, what);
    baseFh = await openRegular(base.file, `the base of ${what}`);
    const { dataOffset } = cowLayout(header.size);
    const baseData = await collect(dataExtents(baseFh, header.size, base.file));
    const cowData = (await collect(dataExtents(cow, dataOffset + header.size, cowFile))).flatMap(([a, b]): Extent[] => (b > dataOffset ? [[Math.max(a, dataOffset) - dataOffset, b - dataOffset]] : []));
    const fromBase = baseFh;
    return {
      size: header.size,
      layout: encodeCowMap(header, bitmap),
      async read(offset, length) {
        const end = offset + length;
        const runs = [...setRuns(bitmap, offset, end)];
        const baseParts = within(baseData, offset, end);
        if (runs.length === 0 && baseParts.length === 0) return 'zero';
        const buf = Buffer.alloc(length);
        for (const [a, b] of baseParts) await readInto(fromBase, buf, a - offset, b - a, a);
        for (const [a, b] of runs) {
          // the guest wrote these sectors: the base's bytes are not what it sees, the COW file's are (zeros where it has a hole)
          buf.fill(0, a - offset, b - offset);
          for (const [c, d] of within(cowData, a, b)) await readInto(cow, buf, c - offset, d - c, dataOffset + c);
        }
        return buf;
      },
      async close() {
        await cow.close();
        await fromBase.close();
      },
    };
  } catch (e) {
    await cow.close();
    await baseFh?.close();
    throw e;
  }
}

/** A COW file's map: a line of JSON naming its base, then its bitmap. */
export function encodeCowMap(header: CowHeader, bitmap: Buffer): Buffer {
  const about: BaseIdentity = { file: header.backingFile, mtime: header.mtime, size: header.size };
  return Buffer.concat([Buffer.from(`${JSON.stringify(about)}\n`), bitmap]);
}

/** A map encodeCowMap wrote, or undefined for anything else. */
export function decodeCowMap(saved: Buffer): { base: BaseIdentity; bitmap: Buffer } | undefined {
  const eol = saved.indexOf(0x0a);
  if (eol < 0 || eol > 8192) return undefined;
  let about: Partial<BaseIdentity>;
  try {
    about = JSON.parse(saved.subarray(0, eol).toString()) as Partial<BaseIdentity>;
  } catch {
    return undefined;
  }
  if (typeof about.file !== 'string' || !Number.isSafeInteger(about.mtime) || !Number.isSafeInteger(about.size)) return undefined;
  const bitmap = saved.subarray(eol + 1);
  if (bitmap.length !== cowLayout(about.size!).dataOffset - cowLayout(about.size!).bitmapOffset) return undefined;
  return { base: { file: about.file, mtime: about.mtime!, size: about.size! }, bitmap };
}

const sameBase = (a: BaseIdentity, b: BaseIdentity) => a.file === b.file && a.mtime === b.mtime && a.size === b.size;

/**
 * Writes `out` (a new file, 0600) as a COW file over `base` that reads as the raw disk `raw`
 * (as large as the base): with the bitmap of `map` where the map is of this very base,
 * every sector marked otherwise (see the module's note). Holes of `raw` stay holes.
 */
export async function writeCowOverBase(raw: string, out: string, base: BaseIdentity, map: Buffer | undefined, signal?: AbortSignal): Promise<void> {
  const rawFh = await open(raw, constants.O_RDONLY | constants.O_NOFOLLOW);
  let outFh: FileHandle | undefined;
  try {
    const size = base.size;
    const { bitmapOffset, dataOffset } = cowLayout(size);
    const kept = map ? decodeCowMap(map) : undefined;
    const bitmap = kept && sameBase(kept.base, base) ? kept.bitmap : Buffer.alloc(dataOffset - bitmapOffset).fill(0xff, 0, Math.ceil(size / 512 / 8));
    outFh = await open(out, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    const head = cowHeader({ backingFile: base.file, mtime: base.mtime, size });
    await outFh.write(head, 0, head.length, 0);
    await outFh.truncate(dataOffset + size);
    const rawData = await collect(dataExtents(rawFh, size, raw));
    const buf = Buffer.alloc(stepBytes);
    for (const [a, b] of setRuns(bitmap, 0, size)) {
      for (const [c, d] of within(rawData, a, b)) {
        for (let at = c; at < d; at += stepBytes) {
          signal?.throwIfAborted();
          const length = Math.min(stepBytes, d - at);
          buf.fill(0, 0, length);
          await readInto(rawFh, buf, 0, length, at);
          await outFh.write(buf, 0, length, dataOffset + at);
        }
      }
    }
    await outFh.write(bitmap, 0, bitmap.length, bitmapOffset);
    await outFh.sync();
  } finally {
    await outFh?.close();
    await rawFh.close();
  }
}
