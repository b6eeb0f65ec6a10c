/**
 * @module Storage pools and the volumes in them: the rows (SQLite) over one PoolDriver
 * per pool (src/storage). Every guest's root is a volume of a pool, made at launch and
 * removed with the guest; the first start makes the pool `default`.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat, statfs } from 'node:fs/promises';
import { unmount } from '../host/mounts.js';
import path from 'node:path';
import { LodgeError } from '../api/errors.js';
import { parseSize } from '../api/sizes.js';
import type { HostStorage, PoolDriverName, StoragePool, StoragePoolsPost, VolumeContent } from '../api/storage.js';
import { kernelHasBtrfs } from '../host/btrfs.js';
import { run } from '../lib/exec.js';
import { isWithin } from '../lib/paths.js';
import { BtrfsPool } from '../storage/btrfs-pool.js';
import { DirPool } from '../storage/dir-pool.js';
import { diskVolumeFile } from '../storage/disk-volume.js';
import { snapshotsDir, volumeDir, type PoolDriver, type VolumeSpec } from '../storage/pool-driver.js';
import type { PoolRecord, Store, VolumeRecord } from './store.js';

const mib = 1024 ** 2;
const gib = 1024 ** 3;
const defaultVolumeSizeBytes = 10 * gib;
/** A stateful snapshot's memory, beside its bytes. */
const memorySuffix = '.memory';

export interface StorageServiceDeps {
  store: Store;
  /** Where pools made without a source live: their directory, and the file of a btrfs pool. */
  dir: string;
  log: (message: string) => void;
}

/** A guest's root, as its driver gets it: the volume's directory, ready to use, and its size. */
export interface RootVolume {
  dir: string;
  sizeBytes: number;
}

/** A btrfs pool's file: a fifth of the free space, between 5 and 100 GiB (sparse, so it costs what guests write). */
async function defaultFileBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return Math.min(100 * gib, Math.max(5 * gib, Math.floor((s.bavail * s.bsize) / 5 / gib) * gib));
}

function sizeField(field: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const bytes = parseSize(text);
  if (bytes === undefined || bytes < 64 * 1024 * 1024) throw new LodgeError('BAD_REQUEST', `${field}: ${text} is not a size of at least 64M`);
  return bytes;
}

export class StorageService {
  private readonly deps: StorageServiceDeps;
  private readonly drivers = new Map<string, PoolDriver>();
  /** Pools being made or deleted: no volume goes into them meanwhile. */
  private readonly busy = new Set<string>();

  constructor(deps: StorageServiceDeps) {
    this.deps = deps;
  }

  private driverOf(p: PoolRecord): PoolDriver {
    let d = this.drivers.get(p.name);
    if (!d) {
      const source = { path: p.source, ...(p.fileBytes !== undefined ? { fileBytes: p.fileBytes } : {}), ...(p.uuid ? { uuid: p.uuid } : {}) };
      d = p.driver === 'btrfs' ? new BtrfsPool(p.path, source, `lodge-${p.name}`) : new DirPool(p.path);
      this.drivers.set(p.name, d);
    }
    return d;
  }

  private record(name: string): PoolRecord {
    const p = this.deps.store.pool(name);
    if (!p) throw new LodgeError('NOT_FOUND', `storage pool ${name} not found (lodge storage list shows what there is)`);
    return p;
  }

  get defaultPool(): string | undefined {
    return this.deps.store.metaValue('default_pool');
  }

  hostInfo(): HostStorage | undefined {
    const defaultPool = this.defaultPool;
    return defaultPool ? { defaultPool, reason: this.deps.store.metaValue('default_pool_reason') ?? '' } : undefined;
  }

  /**
   * At start: every pool mounted again (after a reboot their mounts are gone), and the root
   * volumes of guests the database no longer has (a lodged killed half-way) removed.
   */
  async restore(): Promise<void> {
    await this.sweepUnknownPools();
    for (const p of this.deps.store.pools()) {
      try {
        const driver = this.driverOf(p);
        await driver.activate();
        const known = new Map(this.deps.store.volumes(p.name).map((v) => [v.key, v]));
        const entries = [...(await readdir(path.join(p.path, 'guests')).catch(() => [])), ...(await readdir(path.join(p.path, 'snapshots', 'guests')).catch(() => []))];
        // only what this lodged names after its guests: ID, ID.ext4 beside it, and what a restore makes beside them
        const ours = new RegExp(`^${this.deps.store.instance}-\\d+(\\.ext4)?(\\.restoring|\\.replaced|\\.making)?$`);
        const keyOf = (e: string) => `guests/${e.replace(/(\.ext4)?(\.restoring|\.replaced|\.making)?$/, '')}`;
        const cutShort = new Set(entries.filter((e) => /\.(restoring|replaced)$/.test(e)).map(keyOf));
        for (const key of new Set(entries.filter((e) => ours.test(e)).map(keyOf))) {
          const volume = known.get(key);
          // a restore cut short is mended: the volume as it was
          if (volume && cutShort.has(key)) await driver.activateVolume(this.spec(volume));
          if (volume) continue;
          this.deps.log(`storage pool ${p.name}: removing ${key}: its guest is gone`);
          await driver.deleteVolume({ key, content: 'filesystem', sizeBytes: 0 });
        }
        await this.sweepUnmadeVolumes(p.name);
      } catch (e) {
        this.deps.log(`storage pool ${p.name}: cannot activate it: ${(e as Error).message}`);
      }
    }
  }

  /** Volumes of their own whose making a lodged did not finish (no disk file: it appears whole, by rename) go, rows and all. */
  private async sweepUnmadeVolumes(pool: string): Promise<void> {
    for (const v of this.deps.store.customVolumes()) {
      if (v.pool !== pool || existsSync(diskVolumeFile(this.volumePath(v)))) continue;
      this.deps.log(`storage pool ${pool}: removing volume ${v.key.slice('custom/'.length)}: its making was interrupted`);
      await this.deleteVolumeFiles(v);
      this.deps.store.deleteVolume(v.id);
    }
  }

  /**
   * What a lodged killed while making a pool left in its storage directory (a mounted file
   * with no row): everything there is Lodge's, named after a pool.
   */
  private async sweepUnknownPools(): Promise<void> {
    const known = new Set(this.deps.store.pools().flatMap((p) => [p.path, p.source]));
    for (const entry of await readdir(this.deps.dir).catch(() => [])) {
      const where = path.join(this.deps.dir, entry);
      if (known.has(where)) continue;
      this.deps.log(`storage: removing ${where}: no pool has it (a pool's making was interrupted)`);
      await unmount(where);
      await rm(where, { recursive: true, force: true });
    }
  }

  /**
   * At the first start: the pool `default`, btrfs on a file where this host can, dir
   * otherwise, or the driver asked for; says which and why.
   */
  async ensureDefault(asked?: PoolDriverName): Promise<void> {
    if (this.defaultPool) return;
    let btrfs = asked === 'dir' ? undefined : await this.btrfsUnavailable();
    if (asked === 'btrfs' && btrfs) throw new Error(`--default-pool-driver btrfs: ${btrfs}`);
    if (!this.deps.store.pool('default') && asked === undefined && !btrfs) {
      // a host whose kernel has btrfs may still fail to make one (no free loop device): dir then
      btrfs = await this.create({ name: 'default', driver: 'btrfs' }).then(
        () => undefined,
        (e: LodgeError) => `making one failed: ${e.describe()}`,
      );
    }
    const driver: PoolDriverName = asked ?? (btrfs ? 'dir' : 'btrfs');
    const reason =
      asked !== undefined
        ? `${asked}, as lodged was told (--default-pool-driver) when it made it`
        : btrfs
          ? `dir, since btrfs cannot be used here (${btrfs}): each container root is an ext4 file of its size on a loop device`
          : 'btrfs on a sparse file: every root is a subvolume held to its size by a quota group, made in milliseconds without a loop device or a filesystem of its own, and snapshots and clones are made by reference (bench/storage.ts measures both kinds)';
    if (!this.deps.store.pool('default')) await this.create({ name: 'default', driver });
    this.deps.store.setMeta('default_pool', 'default');
    this.deps.store.setMeta('default_pool_reason', reason);
    this.deps.log(`storage: made the pool default: ${reason}`);
  }

  /** Why btrfs pools cannot be made on this host, if they cannot. */
  private async btrfsUnavailable(): Promise<string | undefined> {
    if (!(await kernelHasBtrfs())) return 'the kernel has no btrfs';
    const probe = await run(['mkfs.btrfs', '--version'], { allowFailure: true }).catch(() => undefined);
    if (probe?.code !== 0) return 'mkfs.btrfs is missing: install the Debian package btrfs-progs';
    return undefined;
  }

  async create(req: StoragePoolsPost): Promise<StoragePool> {
    if (this.deps.store.pool(req.name) || this.busy.has(req.name)) throw new LodgeError('CONFLICT', `a storage pool named ${req.name} exists already`);
    this.busy.add(req.name);
    try {
      return await this.make(req);
    } finally {
      this.busy.delete(req.name);
    }
  }

  private async make(req: StoragePoolsPost): Promise<StoragePool> {
    const fileBytes = sizeField('size', req.size);
    const asked = sizeField('volumeSize', req.volumeSize);
    const own = path.join(this.deps.dir, req.name);
    if (req.source !== undefined && /[,\s]/.test(req.source)) throw new LodgeError('BAD_REQUEST', `source: ${req.source} holds a comma or a space, which engines' command lines cannot carry`);
    let record: PoolRecord;
    if (req.driver === 'dir') {
      if (fileBytes !== undefined) throw new LodgeError('BAD_REQUEST', 'size: a dir pool has no size of its own: it takes what its directory has (volumeSize sizes its containers)');
      const dir = req.source ?? own;
      await this.checkDirSource(dir);
      record = { name: req.name, driver: 'dir', source: dir, path: dir, volumeSizeBytes: asked ?? defaultVolumeSizeBytes, createdAt: new Date().toISOString() };
    } else if (req.source !== undefined) {
      if (fileBytes !== undefined) throw new LodgeError('BAD_REQUEST', 'size: a pool on a block device has the size of the device');
      await this.checkDevice(req.source);
      record = { name: req.name, driver: 'btrfs', source: req.source, path: own, volumeSizeBytes: asked ?? defaultVolumeSizeBytes, createdAt: new Date().toISOString() };
    } else {
      const bytes = fileBytes ?? (await defaultFileBytes(this.deps.dir));
      // a container root by default fits twice in the file
      const volumeSizeBytes = asked ?? Math.min(defaultVolumeSizeBytes, Math.floor(bytes / 2 / mib) * mib);
      record = { name: req.name, driver: 'btrfs', source: `${own}.btrfs`, path: own, fileBytes: bytes, volumeSizeBytes, createdAt: new Date().toISOString() };
    }
    if (this.deps.store.pools().some((p) => p.path === record.path || p.source === record.source)) {
      throw new LodgeError('CONFLICT', `source: ${record.source} holds another storage pool already`);
    }
    try {
      const driver = this.driverOf(record);
      await driver.create();
      if (driver instanceof BtrfsPool && driver.uuid) record.uuid = driver.uuid;
    } catch (e) {
      this.drivers.delete(record.name);
      throw new LodgeError('ENGINE_FAILED', `making the ${record.driver} pool ${record.name} on ${record.source} failed`, { cause: e });
    }
    this.deps.store.insertPool(record);
    return this.get(req.name);
  }

  /**
   * A dir pool's directory is Lodge's alone: a new or empty one, outside lodged's own state
   * (but for its storage directory) and neither inside nor around another pool.
   */
  private async checkDirSource(dir: string): Promise<void> {
    if (!path.isAbsolute(dir)) throw new LodgeError('BAD_REQUEST', `source: ${dir} is not an absolute path`);
    const resolved = path.resolve(dir);
    if (resolved === '/') throw new LodgeError('BAD_REQUEST', 'source: / cannot hold a pool');
    const state = path.dirname(this.deps.dir);
    if (isWithin(resolved, state) && !isWithin(resolved, this.deps.dir)) throw new LodgeError('BAD_REQUEST', `source: ${dir} is inside lodged's state directory (${state}): leave source out for a pool there`);
    const other = this.deps.store.pools().find((p) => isWithin(resolved, p.path) || isWithin(p.path, resolved));
    if (other) throw new LodgeError('CONFLICT', `source: ${dir} overlaps storage pool ${other.name} (${other.path})`);
    if (existsSync(dir)) {
      if (!(await stat(dir)).isDirectory()) throw new LodgeError('BAD_REQUEST', `source: ${dir} is not a directory`);
      if ((await readdir(dir)).length > 0) throw new LodgeError('BAD_REQUEST', `source: ${dir} is not empty: a dir pool takes a new or empty directory, which becomes Lodge's`);
    }
  }

  private async checkDevice(device: string): Promise<void> {
    if (!path.isAbsolute(device)) throw new LodgeError('BAD_REQUEST', `source: ${device} is not an absolute path`);
    const st = await stat(device).catch(() => undefined);
    if (!st) throw new LodgeError('BAD_REQUEST', `source: ${device} does not exist`);
    if (!st.isBlockDevice()) throw new LodgeError('BAD_REQUEST', `source: ${device} is not a block device (leave source out and Lodge makes a file for the pool)`);
  }

  private async toApi(p: PoolRecord): Promise<StoragePool> {
    const usage = await this.driverOf(p)
      .usage()
      .catch(() => ({ totalBytes: 0, usedBytes: 0 }));
    return {
      name: p.name,
      driver: p.driver,
      source: p.source,
      path: p.path,
      default: this.defaultPool === p.name,
      ...usage,
      volumeSizeBytes: p.volumeSizeBytes,
      volumes: this.deps.store.volumes(p.name).length,
      createdAt: p.createdAt,
    };
  }

  list(): Promise<StoragePool[]> {
    return Promise.all(this.deps.store.pools().map((p) => this.toApi(p)));
  }

  get(name: string): Promise<StoragePool> {
    return this.toApi(this.record(name));
  }

  async delete(name: string): Promise<void> {
    const p = this.record(name);
    if (this.busy.has(name)) throw new LodgeError('CONFLICT', `storage pool ${name} is being made or deleted already`);
    if (this.defaultPool === name) throw new LodgeError('CONFLICT', `storage pool ${name} is the default pool: guests launched without --pool go there`);
    const volumes = this.deps.store.volumes(name);
    if (volumes.length > 0) {
      const held = volumes.map((v) => (v.guest ? `the root of ${v.guest}` : `volume ${v.key.slice('custom/'.length)}`));
      throw new LodgeError('CONFLICT', `storage pool ${name} holds ${held.join(', ')}: delete ${held.length > 1 ? 'them' : 'it'} first`);
    }
    // from here no launch or volume goes into it (poolFor refuses)
    this.busy.add(name);
    try {
      await this.driverOf(p).destroy();
      this.deps.store.deletePool(name);
      this.drivers.delete(name);
    } catch (e) {
      throw new LodgeError('ENGINE_FAILED', `removing the storage of pool ${name} failed`, { cause: e });
    } finally {
      this.busy.delete(name);
    }
  }

  /** The pool a guest's root goes to: the one asked for, or the default. */
  poolFor(name: string | undefined): PoolRecord {
    const chosen = name ?? this.defaultPool;
    if (!chosen) throw new LodgeError('CONFLICT', 'pool: there is no default storage pool; name one with --pool (lodge storage list)');
    const p = this.deps.store.pool(chosen);
    if (!p) throw new LodgeError('NOT_FOUND', `pool: storage pool ${chosen} not found (lodge storage list shows what there is)`);
    if (this.busy.has(chosen)) throw new LodgeError('CONFLICT', `pool: storage pool ${chosen} is being deleted`);
    return p;
  }

  /** The size of a root volume: the one asked for, or for a filesystem the pool's default (a block root takes its disk's size later). */
  rootSize(pool: PoolRecord, content: VolumeContent, askedBytes: number | undefined): number {
    return askedBytes ?? (content === 'filesystem' ? pool.volumeSizeBytes : 0);
  }

  private spec(v: VolumeRecord): VolumeSpec {
    return { key: v.key, content: v.content, sizeBytes: v.sizeBytes };
  }

  private driverOfVolume(v: VolumeRecord): PoolDriver {
    return this.driverOf(this.record(v.pool));
  }

  /** Where a volume is, without touching the host. */
  volumePath(v: VolumeRecord): string {
    // a pool's driver, once made, knows where it is: no query per guest on a list
    return volumeDir(this.drivers.get(v.pool)?.root ?? this.record(v.pool).path, v);
  }

  async createVolume(v: VolumeRecord): Promise<RootVolume> {
    const dir = await this.driverOfVolume(v).createVolume(this.spec(v));
    return { dir, sizeBytes: v.sizeBytes };
  }

  /** Mounts what a restart unmounted, before a guest starts. */
  async activateVolume(v: VolumeRecord): Promise<void> {
    await this.driverOfVolume(v).activateVolume(this.spec(v));
  }

  /** Records the size a block volume's disk was made with, and holds the volume to it. */
  async setBlockSize(v: VolumeRecord, sizeBytes: number): Promise<void> {
    v.sizeBytes = sizeBytes;
    await this.driverOfVolume(v).limitBlockVolume(this.spec(v));
    this.deps.store.setVolumeSize(v.id, sizeBytes);
  }

  volumeUsage(v: VolumeRecord): Promise<number> {
    return this.driverOfVolume(v).volumeUsage(this.spec(v));
  }

  /** Removes a volume's bytes and its snapshots'; its row goes with the caller's transaction. */
  async deleteVolumeFiles(v: VolumeRecord): Promise<void> {
    await this.driverOfVolume(v).deleteVolume(this.spec(v));
  }

  snapshotVolume(v: VolumeRecord, name: string, signal?: AbortSignal): Promise<void> {
    return this.driverOfVolume(v).snapshotVolume(this.spec(v), name, signal);
  }

  async restoreVolume(v: VolumeRecord, name: string, signal?: AbortSignal): Promise<void> {
    const driver = this.driverOfVolume(v);
    await driver.activateVolume(this.spec(v));
    await driver.restoreVolume(this.spec(v), name, signal);
  }

  async refillVolume(v: VolumeRecord, fill: (dir: string) => Promise<void>): Promise<void> {
    const driver = this.driverOfVolume(v);
    await driver.activateVolume(this.spec(v));
    await driver.refillVolume(this.spec(v), fill);
  }

  openSnapshot(v: VolumeRecord, name: string): Promise<string> {
    return this.driverOfVolume(v).openSnapshot(this.spec(v), name);
  }

  closeSnapshot(v: VolumeRecord, name: string): Promise<void> {
    return this.driverOfVolume(v).closeSnapshot(this.spec(v), name);
  }

  /** Where a stateful snapshot keeps the guest's memory: beside the snapshot's bytes in the pool, root's alone. */
  async snapshotMemoryFile(v: VolumeRecord, name: string): Promise<string> {
    const dir = snapshotsDir(this.driverOfVolume(v).root, v);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return path.join(dir, `${name}${memorySuffix}`);
  }

  async deleteVolumeSnapshot(v: VolumeRecord, name: string): Promise<void> {
    await this.driverOfVolume(v).deleteVolumeSnapshot(this.spec(v), name);
    await rm(path.join(snapshotsDir(this.driverOfVolume(v).root, v), `${name}${memorySuffix}`), { force: true });
  }

  async volumeSnapshots(v: VolumeRecord): Promise<string[]> {
    const names = await this.driverOfVolume(v).volumeSnapshots(this.spec(v));
    return [...new Set(names.map((n) => (n.endsWith(memorySuffix) ? n.slice(0, -memorySuffix.length) : n)))];
  }

  snapshotUsage(v: VolumeRecord, name: string): Promise<number> {
    return this.driverOfVolume(v).snapshotUsage(this.spec(v), name);
  }

  /** Makes the volume `to` (its row made, in the pool of `from`) as a copy of `from` or of its snapshot. */
  async copyVolume(from: VolumeRecord, snapshot: string | undefined, to: VolumeRecord, signal?: AbortSignal): Promise<RootVolume> {
    const driver = this.driverOfVolume(from);
    if (snapshot === undefined) await driver.activateVolume(this.spec(from));
    const dir = await driver.copyVolume(this.spec(from), snapshot, this.spec(to), signal);
    return { dir, sizeBytes: to.sizeBytes };
  }
}
