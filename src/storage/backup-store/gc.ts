/**
 * @module gc: remove the chunks no finished backup references, safely while backups run
 * (PBS's approach, with mtime instead of atime).
 *
 * 1. Note the start T; read the live writers' records (lock.ts); cutoff = min(T, the
 *    oldest live writer's start) - margin.
 * 2. Mark: touch (set mtime to now) every chunk referenced by a finished backup.
 * 3. Sweep: a chunk whose mtime is still before the cutoff is removed.
 *
 * Why that is safe: a backup that finishes during gc was written by a writer that began
 * either before T (then the cutoff is before its start) or after T; either way every
 * chunk it references was written or touched by it (writers touch each chunk they reuse)
 * after its start, so after the cutoff. The margin covers what makes times disagree:
 * writers on other hosts of an NFS store touch with their own clocks, a new chunk's mtime
 * is the file server's clock, a FAT/exFAT disk keeps mtime in 2-second steps, and an NFS
 * client may not see a writer's record registered up to a minute before (attribute
 * caching). 5 minutes covers these with room; PBS uses 24 h 5 min because it relies on
 * relatime atime, which the kernel updates at most daily; explicit mtime has no such lag.
 *
 * A writer may touch a chunk between the sweep's stat and its unlink. So the sweep first
 * renames the chunk away, then looks at its mtime again through a fresh open (NFS
 * revalidates on open): touched since, it goes back; else it is removed. A writer that
 * touches after the rename gets ENOENT and writes the chunk again.
 *
 * Unfinished backups (no manifest) that no live writer owns and temp files are removed
 * once older than the cutoff. Two gcs at once are harmless (each one's marks only add);
 * the maintenance lock keeps them from doubling the work.
 */
import { open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { LodgeError } from '../../api/errors.js';
import { idHexPattern } from './chunks.js';
import type { Progress } from './disk.js';
import { errnoIs, tempMarker, tempNameFor } from './fs-util.js';
import { paths } from './format.js';
import { collectReferences } from './references.js';
import type { BackupStore } from './store.js';

export const defaultSafetyMarginMs = 5 * 60_000;

export interface GcOptions {
  /** See the module comment; tests shorten it. */
  safetyMarginMs?: number;
  signal?: AbortSignal;
  /** done/total count backups marked. */
  onProgress?: Progress;
}

export interface GcResult {
  cutoff: number;
  markedChunks: number;
  /** Referenced chunks that are not in the store (verify says which backups they break). */
  missingChunks: string[];
  removedChunks: number;
  removedBytes: number;
  removedTemps: number;
  removedUnfinished: string[];
}

export async function gcStore(store: BackupStore, opts: GcOptions = {}): Promise<GcResult> {
  const lease = await store.locks.maintenance('gc');
  try {
    return await collect(store, opts);
  } finally {
    await lease.release();
  }
}

async function collect(store: BackupStore, opts: GcOptions): Promise<GcResult> {
  const margin = opts.safetyMarginMs ?? defaultSafetyMarginMs;
  const start = Date.now();
  const writers = await store.locks.liveWriters();
  const cutoff = Math.min(start, ...writers.map((w) => w.since)) - margin;
  const owned = new Set(writers.map((w) => w.backup).filter((b) => b !== undefined));
  const result: GcResult = { cutoff, markedChunks: 0, missingChunks: [], removedChunks: 0, removedBytes: 0, removedTemps: 0, removedUnfinished: [] };

  const backups = await store.listBackups();
  for (const b of backups.filter((x) => !x.finished)) {
    const dir = paths.backup(store.root, b.group, b.id);
    const st = await stat(dir).catch(() => undefined);
    if (!st || owned.has(`${b.group}/${b.id}`) || st.mtimeMs >= cutoff) continue;
    await rm(dir, { recursive: true, force: true });
    result.removedUnfinished.push(`${b.group}/${b.id}`);
  }

  const marked = new Set<string>();
  const finished = backups.filter((x) => x.finished);
  for (const [k, b] of finished.entries()) {
    opts.signal?.throwIfAborted();
    const ids: string[] = [];
    try {
      await collectReferences(store, b.group, b.id, (c) => ids.push(c));
    } catch (e) {
      // a backup we cannot read may still be repaired; sweeping now could destroy its chunks
      if (errnoIs(e, 'ENOENT') || (e instanceof LodgeError && e.code === 'NOT_FOUND')) continue; // pruned meanwhile
      throw new LodgeError('CONFLICT', `gc stopped before sweeping: backup ${b.group}/${b.id} cannot be read, so what it references is unknown`, { cause: e });
    }
    for (const c of ids) {
      if (marked.has(c)) continue;
      marked.add(c);
      if (!(await store.chunks.touch(c))) result.missingChunks.push(c);
    }
    opts.onProgress?.({ done: k + 1, total: finished.length });
  }
  result.markedChunks = marked.size;

  const chunkRoot = paths.chunks(store.root);
  for (const sub of (await readdir(chunkRoot)).sort()) {
    opts.signal?.throwIfAborted();
    const dir = path.join(chunkRoot, sub);
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const file = path.join(dir, name);
      const st = await stat(file).catch(() => undefined);
      if (!st || st.mtimeMs >= cutoff) continue;
      if (name.includes(tempMarker)) {
        await unlink(file).catch(() => undefined);
        result.removedTemps++;
      } else if (idHexPattern.test(name) && !marked.has(name)) {
        if (await sweep(file, cutoff)) {
          result.removedChunks++;
          result.removedBytes += st.size;
        }
      }
    }
  }
  return result;
}

/** Removes a chunk unless a writer touched it meanwhile; true when removed. */
async function sweep(file: string, cutoff: number): Promise<boolean> {
  const aside = tempNameFor(file);
  try {
    await rename(file, aside);
  } catch (e) {
    if (errnoIs(e, 'ENOENT')) return false;
    throw e;
  }
  const fh = await open(aside, 'r');
  const { mtimeMs } = await fh.stat().finally(() => fh.close());
  if (mtimeMs >= cutoff) {
    await rename(aside, file);
    return false;
  }
  await unlink(aside);
  return true;
}
