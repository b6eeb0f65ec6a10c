/**
 * @module Restoring a catalog into an empty directory, whole or only some paths
 * (`files`). A catalog may have been tampered with, so no entry is trusted to stay
 * inside the target: every path is relative without '.', '..' or empty components, and
 * an entry is created only inside a directory this restore itself created (entries come
 * parents first), with O_EXCL/O_NOFOLLOW or link(2), which never follow or replace what
 * is there. So nothing is ever resolved through a symlink, and a path reused by two
 * entries fails. Directory modes and times are set last, children first, so that a
 * read-only directory can still be filled. Owners are restored when running as root.
 * Devices and fifos are made with mknod(1) in a staging directory and linked into place.
 * Extended attributes are set once every entry is made (after chown, which clears a file
 * capability, and before directory modes), by one run of lodge-xattrs (xattrs.ts).
 */
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { link, lchown, lutimes, mkdir, mkdtemp, open, readdir, rm, symlink, chmod, chown, utimes } from 'node:fs/promises';
import path from 'node:path';
import { LodgeError } from '../../api/errors.js';
import { run } from '../../lib/exec.js';
import { pathProblem, type CatalogEntry } from './catalog.js';
import type { ChunkStore } from './chunks.js';
import type { Progress } from './disk.js';
import { ChunkCache, entryData } from './tree-read.js';
import { XattrRecords } from './xattrs.js';

export interface TreeRestoreOptions {
  /** Restore only these paths (relative to the tree's root) and what is under them. */
  files?: string[];
  /** Restore owners (default: when running as root). */
  owners?: boolean;
  /**
   * The host ids an unprivileged container's files may have ([hostId, hostId + size)): what
   * could give host root is not restored (a backup or an archive may be forged): a setuid or
   * setgid bit on a file owned outside them, and a file capability that is not a v3 one
   * whose root is `hostId`.
   */
  ids?: { hostId: number; size: number };
  signal?: AbortSignal;
  onProgress?: Progress;
}

export interface TreeRestoreResult {
  entries: number;
  bytes: number;
  /**
   * Entries not restored, and why (sockets; devices without the right to make them; a hardlink
   * whose file was not restored), and extended attributes this host refused (no right, no support).
   */
  skipped: { path: string; why: string }[];
}

const slash = 0x2f;
const parentOf = (p: Buffer) => {
  const i = p.lastIndexOf(slash);
  return i < 0 ? Buffer.alloc(0) : p.subarray(0, i);
};
const under = (p: Buffer, dir: Buffer) => p.equals(dir) || (p.length > dir.length && p[dir.length] === slash && p.subarray(0, dir.length).equals(dir));
/**
 * A time in nanoseconds as the seconds Node's utimes takes: a double, whose step near today's
 * times is about half a microsecond, so the exact microsecond is kept by aiming at its middle
 * (the kernel then stores the nanoseconds libuv truncates to).
 */
const seconds = (ns: bigint) => Number(ns / 1_000_000_000n) + (Number((ns % 1_000_000_000n) / 1000n) * 1000 + 500) / 1e9;
const sparseBlock = 64 * 1024;
const zeroBlock = Buffer.alloc(sparseBlock);

/** Writes `data` at `at`, leaving all-zero 64 KiB blocks as holes (the file is new, so they read as zeros). */
async function writeSparse(fh: FileHandle, data: Buffer, at: number): Promise<void> {
  let runStart = -1;
  for (let off = 0; off <= data.length; off += sparseBlock) {
    const block = data.subarray(off, off + sparseBlock);
    const zero = block.length === 0 || block.equals(zeroBlock.subarray(0, block.length));
    if (!zero && runStart < 0) runStart = off;
    if (zero && runStart >= 0) {
      await fh.write(data, runStart, off - runStart, at + runStart);
      runStart = -1;
    }
  }
  if (runStart >= 0) await fh.write(data, runStart, data.length - runStart, at + runStart);
}

function selector(files: string[] | undefined): (e: CatalogEntry) => boolean {
  if (!files) return () => true;
  const wanted = files.map((f) => {
    const b = Buffer.from(f.replace(/^\/+|\/+$/g, ''));
    const problem = pathProblem(b);
    if (problem) throw new LodgeError('BAD_REQUEST', `--files path "${f}" ${problem}`);
    return b;
  });
  return (e) => wanted.some((w) => w.length === 0 || under(e.path, w) || (e.type === 'dir' && (e.path.length === 0 || under(w, e.path))));
}

export async function restoreTree(chunks: ChunkStore, catalog: AsyncIterable<CatalogEntry>, target: string, opts: TreeRestoreOptions = {}): Promise<TreeRestoreResult> {
  const owners = opts.owners ?? process.getuid?.() === 0;
  const wanted = selector(opts.files);
  await mkdir(target, { recursive: true });
  if ((await readdir(target)).length > 0) throw new LodgeError('CONFLICT', `restore target ${target} is not empty`);
  const root = Buffer.from(path.resolve(target));
  const full = (p: Buffer) => (p.length === 0 ? root : Buffer.concat([root, Buffer.from('/'), p]));
  const result: TreeRestoreResult = { entries: 0, bytes: 0, skipped: [] };
  const dirs = new Set<string>(['']);
  const files = new Set<string>();
  const dirMeta: CatalogEntry[] = [];
  const xattrs = new XattrRecords();
  const cache = new ChunkCache(chunks);
  let staging: string | undefined;
  const shown = (p: Buffer) => JSON.stringify(p.toString('utf8'));

  const setMeta = async (p: Buffer | string, e: CatalogEntry) => {
    if (owners) await chown(p, e.uid, e.gid);
    await chmod(p, e.mode);
    await utimes(p, seconds(e.mtimeNs), seconds(e.mtimeNs));
  };

  const writeFile = async (e: CatalogEntry) => {
    const fh = await open(full(e.path), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      let at = 0;
      for await (const piece of entryData(cache, e, opts.signal)) {
        if (typeof piece === 'number') at += piece;
        else {
          await writeSparse(fh, piece, at);
          at += piece.length;
        }
      }
      await fh.truncate(e.size);
      if (owners) await fh.chown(e.uid, e.gid);
      await fh.chmod(e.mode);
      await fh.utimes(seconds(e.mtimeNs), seconds(e.mtimeNs));
    } finally {
      await fh.close();
    }
    result.bytes += e.size;
    opts.onProgress?.({ done: result.bytes });
  };

  /** mknod(1) takes a name as text: make the node under a plain name in a staging dir, then link it into place. */
  const makeNode = async (e: CatalogEntry) => {
    staging ??= await mkdtemp(path.join(target, '.lodge-restore-'));
    const temp = path.join(staging, 'node');
    const rdev = e.rdev ?? 0n;
    const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
    const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
    const argv = e.type === 'fifo' ? ['mknod', temp, 'p'] : ['mknod', temp, e.type === 'chardev' ? 'c' : 'b', String(major), String(minor)];
    const made = await run(argv, { allowFailure: true });
    if (made.code !== 0) return `mknod failed: ${made.stderr.trim()}`;
    try {
      await setMeta(temp, e);
      await link(temp, full(e.path));
    } finally {
      await rm(temp, { force: true });
    }
    return undefined;
  };

  for await (const read of catalog) {
    opts.signal?.throwIfAborted();
    if (!wanted(read)) continue;
    const e = opts.ids ? confined(read, opts.ids) : read;
    const key = e.path.toString('latin1');
    if (e.path.length === 0) {
      if (e.xattrs) xattrs.add(e.path, e.xattrs);
      dirMeta.push(e);
      result.entries++;
      continue;
    }
    if (!dirs.has(parentOf(e.path).toString('latin1'))) {
      throw new LodgeError('BAD_REQUEST', `catalog entry ${shown(e.path)} is not inside a directory this restore created (a tampered catalog, or one out of order)`);
    }
    const where = full(e.path);
    switch (e.type) {
      case 'dir':
        await mkdir(where, 0o700);
        dirs.add(key);
        dirMeta.push(e);
        break;
      case 'file':
        await writeFile(e);
        files.add(key);
        break;
      case 'symlink':
        await symlink(e.target!, where);
        if (owners) await lchown(where, e.uid, e.gid);
        await lutimes(where, seconds(e.mtimeNs), seconds(e.mtimeNs));
        break;
      case 'hardlink':
        if (!files.has(e.target!.toString('latin1'))) {
          result.skipped.push({ path: e.path.toString('utf8'), why: `its first link ${shown(e.target!)} was not restored` });
          continue;
        }
        await link(full(e.target!), where);
        break;
      case 'chardev':
      case 'blockdev':
      case 'fifo': {
        const why = await makeNode(e);
        if (why) {
          result.skipped.push({ path: e.path.toString('utf8'), why });
          continue;
        }
        files.add(key);
        break;
      }
      case 'socket':
        result.skipped.push({ path: e.path.toString('utf8'), why: 'a socket is made by the program that listens on it' });
        continue;
    }
    if (e.xattrs && e.type !== 'hardlink') xattrs.add(e.path, e.xattrs);
    result.entries++;
  }
  if (staging) await rm(staging, { recursive: true, force: true });
  result.skipped.push(...(await xattrs.apply(root.toString(), opts.signal)));
  for (const e of dirMeta.reverse()) await setMeta(full(e.path), e);
  return result;
}

const capabilityName = Buffer.from('security.capability');
/** VFS_CAP_REVISION_3 (the magic of a namespaced capability, whose root id follows the sets). */
const capabilityV3 = 0x03000000;

/** An entry of a container's tree without what would be host root's on this host. */
function confined(e: CatalogEntry, ids: { hostId: number; size: number }): CatalogEntry {
  const inside = (id: number) => id >= ids.hostId && id < ids.hostId + ids.size;
  const mode = inside(e.uid) && inside(e.gid) ? e.mode : e.mode & ~0o6000;
  const xattrs = e.xattrs?.filter(([name, value]) => {
    if (!name.equals(capabilityName)) return true;
    return value.length === 24 && (value.readUInt32LE(0) & 0xff000000) === capabilityV3 && value.readUInt32LE(20) === ids.hostId;
  });
  const { xattrs: _read, ...rest } = e;
  return { ...rest, mode, ...(xattrs?.length ? { xattrs } : {}) };
}
