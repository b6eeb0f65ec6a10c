/**
 * @module One backup being written: its disks and trees are added one by one (each
 * index file durable as soon as it is written), then commit() makes every new chunk's
 * directory entry durable and writes the manifest last. Until then the backup is
 * unfinished: abort() (or gc, once the writer is gone) removes it. The writer is
 * registered in the store's locks for its whole life, so gc knows when it began.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { LodgeError } from '../../api/errors.js';
import type { CatalogEntry } from './catalog.js';
import { backupDisk, type DiskSource, type Progress } from './disk.js';
import { errnoIs, writeFileAtomic } from './fs-util.js';
import { backupIdOf, checkIndexName, paths } from './format.js';
import { encodeChunkList, encodeFixedIndex, type FixedIndex } from './index-files.js';
import type { Lease } from './lock.js';
import { manifestFileName, type IndexInfo, type Manifest } from './manifest.js';
import { WriteSession } from './session.js';
import type { BackupStore } from './store.js';
import { backupTree } from './tree-backup.js';

export interface BeginOptions {
  /** Free-form JSON kept in the manifest (the guest's settings). */
  guest?: unknown;
}

/** An earlier backup whose index of the same name (or `name`) this one builds on. */
export interface PreviousRef {
  group: string;
  id: string;
  name?: string;
}

export interface AddOptions {
  previous?: PreviousRef;
  signal?: AbortSignal;
  onProgress?: Progress;
}

export class BackupWriter {
  readonly store: BackupStore;
  readonly group: string;
  readonly id: string;
  readonly dir: string;
  private readonly createdAt: string;
  private guest: unknown;
  private readonly lease: Lease;
  private readonly session: WriteSession;
  private readonly indexes: IndexInfo[] = [];
  private state: 'open' | 'committed' | 'aborted' = 'open';

  private constructor(store: BackupStore, group: string, id: string, lease: Lease, guest: unknown) {
    this.store = store;
    this.group = group;
    this.id = id;
    this.dir = paths.backup(store.root, group, id);
    this.createdAt = new Date().toISOString();
    this.guest = guest ?? null;
    this.lease = lease;
    this.session = new WriteSession(store.chunks);
  }

  static async begin(store: BackupStore, group: string, opts: BeginOptions): Promise<BackupWriter> {
    await mkdir(paths.group(store.root, group), { recursive: true });
    let ms = Date.now();
    // registered before the first chunk is touched: gc's cutoff stays before anything this writer does
    const lease = await store.locks.registerWriter(`backup ${group}`);
    for (;;) {
      const id = backupIdOf(ms);
      await lease.setBackup(`${group}/${id}`);
      try {
        await mkdir(paths.backup(store.root, group, id));
        return new BackupWriter(store, group, id, lease, opts.guest);
      } catch (e) {
        if (!errnoIs(e, 'EEXIST')) {
          await lease.release();
          throw e;
        }
        ms++;
      }
    }
  }

  private check(name: string): string {
    if (this.state !== 'open') throw new LodgeError('CONFLICT', `backup ${this.group}/${this.id} is ${this.state}`);
    checkIndexName(name);
    if (this.indexes.some((x) => x.name === name)) throw new LodgeError('CONFLICT', `backup ${this.group}/${this.id} has an index named ${name} already`);
    return name;
  }

  private async previousName(prev: PreviousRef | undefined, name: string, kind: IndexInfo['kind']): Promise<string | undefined> {
    if (!prev) return undefined;
    const m = await this.store.readManifest(prev.group, prev.id);
    const want = prev.name ?? name;
    return m.indexes.some((x) => x.name === want && x.kind === kind) ? want : undefined;
  }

  private async writeIndex(name: string, kind: IndexInfo['kind'], data: Buffer, stats: Omit<IndexInfo, 'name' | 'kind' | 'file' | 'sha256' | 'indexBytes'>): Promise<IndexInfo> {
    const file = `${name}.${kind === 'disk' ? 'fidx' : 'cidx'}`;
    await writeFileAtomic(path.join(this.dir, file), data);
    const info: IndexInfo = { name, kind, file, sha256: createHash('sha256').update(data).digest('hex'), indexBytes: data.length, ...stats };
    this.indexes.push(info);
    return info;
  }

  /**
   * Adds a disk image as fixed-size chunks. With `previous` and `dirty` (chunk numbers of
   * this store's fixed chunk size changed since then), only the dirty chunks are read.
   */
  async addDisk(name: string, source: DiskSource, opts: AddOptions & { dirty?: Iterable<number> } = {}): Promise<IndexInfo> {
    this.check(name);
    const prevName = await this.previousName(opts.previous, name, 'disk');
    const previous: FixedIndex | undefined = prevName ? await this.store.readFixedIndex(opts.previous!.group, opts.previous!.id, prevName) : undefined;
    const r = await backupDisk(this.session, source, this.store.config.chunks.fixedSize, { previous, dirty: previous ? opts.dirty : undefined, signal: opts.signal, onProgress: opts.onProgress });
    return this.writeIndex(name, 'disk', encodeFixedIndex(r.index), { size: r.index.size, bytesRead: r.bytesRead, bytesStored: r.bytesStored, chunksNew: r.chunksNew, chunksReused: r.chunksReused });
  }

  /** Adds a file tree (best a snapshot: see tree-backup.ts); with `previous`, unchanged files are not read. */
  async addTree(name: string, dir: string, opts: AddOptions & { oneFileSystem?: boolean } = {}): Promise<IndexInfo> {
    this.check(name);
    const prevName = await this.previousName(opts.previous, name, 'tree');
    const previous: AsyncIterable<CatalogEntry> | undefined = prevName ? await this.store.catalog(opts.previous!.group, opts.previous!.id, prevName) : undefined;
    const r = await backupTree(this.session, dir, this.store.cdc, { previous, oneFileSystem: opts.oneFileSystem, signal: opts.signal, onProgress: opts.onProgress });
    return this.writeIndex(name, 'tree', encodeChunkList(r.catalog), {
      size: r.size,
      bytesRead: r.bytesRead,
      bytesStored: r.bytesStored,
      chunksNew: r.chunksNew,
      chunksReused: r.chunksReused,
      entries: r.entries,
    });
  }

  /** What the manifest says of the guest, when it is known only once the backup has begun. */
  describe(guest: unknown): void {
    this.guest = guest;
  }

  /** Makes the backup finished: new chunks durable, then the manifest. */
  async commit(): Promise<Manifest> {
    if (this.state !== 'open') throw new LodgeError('CONFLICT', `backup ${this.group}/${this.id} is ${this.state}`);
    await this.session.chunks.syncDirs(this.session.written);
    const manifest: Manifest = {
      format: 'lodge-backup',
      version: 1,
      group: this.group,
      id: this.id,
      createdAt: this.createdAt,
      finishedAt: new Date().toISOString(),
      indexes: this.indexes,
      bytesRead: this.indexes.reduce((n, x) => n + x.bytesRead, 0),
      bytesStored: this.indexes.reduce((n, x) => n + x.bytesStored, 0),
      guest: this.guest,
    };
    await writeFileAtomic(path.join(this.dir, manifestFileName), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
    this.state = 'committed';
    await this.lease.release();
    return manifest;
  }

  /** Drops the unfinished backup (its new chunks stay until a gc finds nothing references them). */
  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    try {
      await rm(this.dir, { recursive: true, force: true });
    } finally {
      await this.lease.release();
    }
  }
}
