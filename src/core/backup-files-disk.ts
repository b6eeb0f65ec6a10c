/**
 * @module The disk of a pv or vm guest as a backup holds it, made a raw disk file in a
 * scratch directory of lodged's for host/ext-reader.ts to read: a pv guest's UML COW file
 * written over a sparse copy of its image's base (the one the COW file names, if it is one
 * of its image's on this host; no name the guest wrote leads elsewhere), or a vm guest's
 * whole disk restored from its index. What reads the guest's bytes (debugfs) runs as the
 * readers (ext-reader.ts), never as root.
 */
import { constants } from 'node:fs';
import { chmod, chown, open, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { BackupGuest } from '../api/backups.js';
import { LodgeError } from '../api/errors.js';
import type { ImageFormat } from '../api/images.js';
import type { ImageBases } from '../drivers/driver.js';
import { applyCow, cowHeaderBytes, parseCowHeader } from '../drivers/pv/cow.js';
import { readerIds, type ExtImage } from '../host/ext-reader.js';
import { run } from '../lib/exec.js';
import { ChunkCache, entryData, type BackupStore, type CatalogEntry } from '../storage/backup-store/store.js';
import { findExtFilesystem } from '../storage/disk-layout.js';

/** What a disk is read with: the images of this host, and lodge-userns. */
export interface DiskReading {
  images: BackupImages;
  helper: string;
}

/** What backups' files need of this host's images (ImageService). */
export interface BackupImages {
  /** Where version `content` of image `name` is on this host (its rootfs, or its disk or ISO file), and its format. */
  versionOf(name: string, content: string): { path: string; format: ImageFormat } | undefined;
  /** The bases of version `content` of image `name`. */
  forGuest(name: string, content: string): { bases: ImageBases };
}

interface BackupOf {
  store: BackupStore;
  group: string;
  id: string;
  settings: BackupGuest;
}

/** A pv guest's backup: its root volume's tree holds its UML COW file. */
type CowDisk = BackupOf & { tree: string; file: string; format: 'uml-cow' };

/** A backup of a guest whose root is a disk: a COW file of its root volume's tree, or the whole disk as an index of the backup (a vm's). */
export type DiskSource = CowDisk | (BackupOf & { index: string });

const what = (src: BackupOf) => `backup ${src.group}/${src.id}`;

async function catalogEntry(src: CowDisk): Promise<CatalogEntry> {
  for await (const e of await src.store.catalog(src.group, src.id, src.tree)) if (e.path.toString() === src.file && e.type === 'file') return e;
  throw new LodgeError('BAD_REQUEST', `${what(src)} holds no disk file ${src.file}`);
}

/** The first `n` bytes of a backed-up file. */
async function head(src: CowDisk, e: CatalogEntry, n: number): Promise<Buffer> {
  const pieces: Buffer[] = [];
  let got = 0;
  for await (const piece of entryData(new ChunkCache(src.store.chunks), e)) {
    pieces.push(typeof piece === 'number' ? Buffer.alloc(piece) : piece);
    got += typeof piece === 'number' ? piece : piece.length;
    if (got >= n) break;
  }
  return Buffer.concat(pieces).subarray(0, n);
}

/** The base of the guest's image that the disk names, if this host has it. */
async function namedBase(src: CowDisk, images: BackupImages, name: string, as: 'ext4' | 'qcow2'): Promise<{ path: string; format: 'raw' | 'qcow2' }> {
  const { image, imageContent } = src.settings;
  const base = await images.forGuest(image, imageContent).bases.which(name, as);
  if (base?.present) return { path: base.path, format: as === 'ext4' ? 'raw' : 'qcow2' };
  const version = images.versionOf(image, imageContent);
  if (!base && version && (version.format === 'qcow2' || version.format === 'raw') && (await realpath(name).catch(() => '')) === (await realpath(version.path))) return { path: version.path, format: version.format };
  throw new LodgeError('CONFLICT', `the disk of ${what(src)} was written over ${path.basename(name)} of image ${image}, which this host does not have (rebuilt since, or made on another host): its files cannot be read here`);
}

/** A pv guest's disk as it was: its COW file's sectors written over a sparse copy of the base its header names. */
async function mergedCow(src: CowDisk, r: DiskReading, dir: string): Promise<string> {
  const e = await catalogEntry(src);
  const header = parseCowHeader(await head(src, e, cowHeaderBytes));
  if (!header) throw new LodgeError('BAD_REQUEST', `${src.file} in ${what(src)} is not a UML COW file`);
  const base = await namedBase(src, r.images, header.backingFile, 'ext4');
  if ((await stat(base.path)).size !== header.size) throw new LodgeError('CONFLICT', `the base ${base.path} is not the size the disk of ${what(src)} was written over`);
  const disk = path.join(dir, 'disk.raw');
  await run(['cp', '--sparse=always', '--reflink=auto', base.path, disk], { timeoutMs: 600_000 });
  await chmod(disk, 0o600);
  const fh = await open(disk, 'r+');
  try {
    await applyCow(entryData(new ChunkCache(src.store.chunks), e), async (at, data) => void (await fh.write(data, 0, data.length, at))).catch((err: Error) => {
      throw new LodgeError('BAD_REQUEST', `${src.file} in ${what(src)} cannot be read: ${err.message}`, { cause: err });
    });
  } finally {
    await fh.close();
  }
  await readableByReaders(disk);
  return disk;
}

/** A guest's disk made whole: root's, the readers' group may read it, no one else (not another guest's engine). */
async function readableByReaders(disk: string): Promise<void> {
  await chown(disk, 0, readerIds.hostId);
  await chmod(disk, 0o640);
}

/** A vm backup's disk, as its guest saw it, restored from its index to a file in `dir`. */
async function wholeDisk(src: BackupOf & { index: string }, dir: string, signal: AbortSignal): Promise<string> {
  const disk = path.join(dir, 'disk.raw');
  await src.store.restoreDisk(src.group, src.id, src.index, disk, { signal });
  await readableByReaders(disk);
  return disk;
}

/**
 * The backup's disk as a raw file in `dir` (lodged's, 0711) and where its ext filesystem is;
 * UNSUPPORTED, saying why, when it holds none.
 */
export async function openDisk(src: DiskSource, r: DiskReading, dir: string, signal: AbortSignal): Promise<ExtImage> {
  const file = 'index' in src ? await wholeDisk(src, dir, signal) : await mergedCow(src, r, dir);
  // the converted disk is the readers': read without following a link, and only as a file
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new LodgeError('ENGINE_FAILED', `the disk made of ${what(src)} is not a file`);
    const place = await findExtFilesystem(async (offset, length) => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    }, st.size);
    if ('why' in place) throw new LodgeError('UNSUPPORTED', `the files of ${what(src)} (a ${src.settings.kind} guest) cannot be read: ${place.why}; Lodge reads ext2/3/4 filesystems`);
    return { file, offset: place.offset };
  } finally {
    await fh.close();
  }
}
