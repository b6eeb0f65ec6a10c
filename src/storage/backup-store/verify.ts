/**
 * @module verify: re-read and re-hash every chunk that a finished backup references
 * (each once, however many backups share it), and report the damaged or missing ones
 * with the backups they break, and the backups whose manifest or index cannot be read.
 */
import { ChunkError } from './chunk-codec.js';
import type { Progress } from './disk.js';
import { collectReferences } from './references.js';
import type { BackupStore } from './store.js';

export interface VerifyOptions {
  /** Only this group's backups. */
  group?: string;
  signal?: AbortSignal;
  /** done/total count chunks. */
  onProgress?: Progress;
}

export interface VerifyReport {
  backups: number;
  chunks: number;
  damaged: { chunk: string; error: string; backups: string[] }[];
  /** Backups that cannot be restored whole, "<group>/<id>", and why (the first reason found). */
  broken: { backup: string; why: string }[];
  ok: boolean;
}

export async function verifyStore(store: BackupStore, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const users = new Map<string, Set<string>>();
  const broken = new Map<string, string>();
  const backups = (await store.listBackups(opts.group)).filter((b) => b.finished);
  for (const b of backups) {
    opts.signal?.throwIfAborted();
    const name = `${b.group}/${b.id}`;
    try {
      await collectReferences(store, b.group, b.id, (c) => {
        let set = users.get(c);
        if (!set) users.set(c, (set = new Set()));
        set.add(name);
      });
    } catch (e) {
      broken.set(name, (e as Error).message);
    }
  }
  const damaged: VerifyReport['damaged'] = [];
  let done = 0;
  for (const [chunk, names] of users) {
    opts.signal?.throwIfAborted();
    try {
      await store.chunks.get(chunk);
    } catch (e) {
      if (!(e instanceof ChunkError)) throw e;
      const list = [...names].sort();
      damaged.push({ chunk, error: e.message, backups: list });
      for (const n of list) if (!broken.has(n)) broken.set(n, e.message);
    }
    opts.onProgress?.({ done: ++done, total: users.size });
  }
  return {
    backups: backups.length,
    chunks: users.size,
    damaged,
    broken: [...broken].sort().map(([backup, why]) => ({ backup, why })),
    ok: damaged.length === 0 && broken.size === 0,
  };
}
