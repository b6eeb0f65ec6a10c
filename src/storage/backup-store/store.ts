/**
 * @module A Lodge backup store: the public surface of src/storage/backup-store/.
 *
 *   const store = await createStore(dir, { encryptionKey })      // or openStore(dir, { key })
 *   const m = await store.runBackup('web1', { guest: {...} }, async (w) => {
 *     await w.addDisk('root', await fileDiskSource(img), { previous: last, dirty });  // fixed 4 MiB chunks
 *     await w.addTree('rootfs', snapshotDir, { previous: last });                     // content-defined chunks + catalog
 *   });                                                          // or beginBackup() + commit()/abort()
 *   m.bytesStored, m.bytesRead                                   // what this backup cost
 *   await store.restoreDisk('web1', m.id, 'root', file)
 *   await store.restoreTree('web1', m.id, 'rootfs', emptyDir, { files: ['etc/hosts'] })
 *   await store.verify() / store.prune('web1', { keepLast: 3, keepDaily: 7 }) / store.gc()
 *
 * Long calls take { signal, onProgress }. Errors are LodgeErrors naming the file or chunk;
 * a chunk that fails its check throws a ChunkError (chunk-codec.ts) naming its id.
 * Writers take no exclusive lock (backups run side by side); gc and prune take the
 * maintenance lock (lock.ts); gc is safe while backups run (gc.ts).
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { LodgeError } from '../../api/errors.js';
import { cdcParams, type CdcParams } from './cdc.js';
import { decodeCatalog, type CatalogEntry } from './catalog.js';
import { ChunkStore } from './chunks.js';
import { restoreDisk, type DiskRestoreOptions } from './disk.js';
import { errnoIs, fsyncDir, writeFileAtomic } from './fs-util.js';
import { checkBackupId, checkGroup, checkIndexName, defaultChunkParameters, parseConfig, paths, storeFormat, storeVersion, timeOfBackupId, type ChunkParameters, type StoreConfig } from './format.js';
import { gcStore, type GcOptions, type GcResult } from './gc.js';
import { decodeChunkList, decodeFixedIndex, type ChunkList, type FixedIndex } from './index-files.js';
import { deriveKeys, fingerprintMatches, type StoreKeys } from './keys.js';
import { StoreLocks } from './lock.js';
import { manifestFileName, parseManifest, type IndexInfo, type Manifest } from './manifest.js';
import { selectKept, type PrunePolicy } from './prune.js';
import { restoreTree, type TreeRestoreOptions, type TreeRestoreResult } from './tree-restore.js';
import { verifyStore, type VerifyOptions, type VerifyReport } from './verify.js';
import { BackupWriter, type BeginOptions } from './writer.js';

export interface CreateStoreOptions {
  /** 32 bytes the administrator keeps; without it the store is not encrypted. */
  encryptionKey?: Uint8Array;
  chunks?: Partial<ChunkParameters>;
}

export interface OpenStoreOptions {
  /** The key of an encrypted store. */
  key?: Uint8Array;
}

export interface BackupInfo {
  group: string;
  id: string;
  /** ms since the epoch, from the id */
  time: number;
  /** false for a backup without a manifest: being written, or left by a crash (gc removes it) */
  finished: boolean;
}

export interface PruneResult {
  kept: { id: string; rules: string[] }[];
  removed: string[];
}

export async function createStore(dir: string, opts: CreateStoreOptions = {}): Promise<BackupStore> {
  const root = path.resolve(dir);
  await mkdir(root, { recursive: true });
  const configFile = paths.config(root);
  if (await stat(configFile).catch(() => undefined)) throw new LodgeError('CONFLICT', `${root} is a backup store already (${configFile} exists)`);
  const keys = opts.encryptionKey ? deriveKeys(opts.encryptionKey) : undefined;
  const config: StoreConfig = {
    format: storeFormat,
    version: storeVersion,
    createdAt: new Date().toISOString(),
    chunks: { ...defaultChunkParameters, ...opts.chunks },
    encryption: keys ? { cipher: 'aes-256-gcm', ids: 'hmac-sha256', kdf: 'hkdf-sha256', fingerprint: keys.fingerprint } : null,
  };
  parseConfig(JSON.stringify(config), configFile);
  for (const d of [paths.chunks(root), paths.backups(root), paths.locks(root)]) await mkdir(d, { recursive: true });
  await writeFileAtomic(configFile, Buffer.from(`${JSON.stringify(config, null, 2)}\n`));
  return new BackupStore(root, config, keys);
}

export async function openStore(dir: string, opts: OpenStoreOptions = {}): Promise<BackupStore> {
  const root = path.resolve(dir);
  const configFile = paths.config(root);
  let text: string;
  try {
    text = await readFile(configFile, 'utf8');
  } catch (e) {
    if (errnoIs(e, 'ENOENT', 'ENOTDIR')) throw new LodgeError('NOT_FOUND', `${root} is not a backup store (it has no ${path.basename(configFile)})`, { cause: e });
    throw new LodgeError('INTERNAL', `Failed reading ${configFile}`, { cause: e });
  }
  const config = parseConfig(text, configFile);
  let keys: StoreKeys | undefined;
  if (config.encryption) {
    if (!opts.key) throw new LodgeError('BAD_REQUEST', `backup store ${root} is encrypted: its key is needed`);
    keys = deriveKeys(opts.key);
    if (!fingerprintMatches(keys, config.encryption.fingerprint)) throw new LodgeError('BAD_REQUEST', `the key given is not the key of backup store ${root} (fingerprint ${keys.fingerprint}, the store's is ${config.encryption.fingerprint})`);
  } else if (opts.key) {
    throw new LodgeError('BAD_REQUEST', `backup store ${root} is not encrypted, yet a key was given`);
  }
  return new BackupStore(root, config, keys);
}

export class BackupStore {
  readonly root: string;
  readonly config: StoreConfig;
  readonly chunks: ChunkStore;
  readonly locks: StoreLocks;
  readonly cdc: CdcParams;

  constructor(root: string, config: StoreConfig, keys: StoreKeys | undefined) {
    this.root = root;
    this.config = config;
    this.chunks = new ChunkStore(root, config.chunks, keys);
    this.locks = new StoreLocks(root);
    const c = config.chunks;
    this.cdc = cdcParams(c.cdcMin, c.cdcAvg, c.cdcMax, keys?.gearSeed);
  }

  backupDir(group: string, id: string): string {
    return paths.backup(this.root, checkGroup(group), checkBackupId(id));
  }

  /** Starts a backup of `group` (the guest); the writer's commit() makes it a finished backup. */
  beginBackup(group: string, opts: BeginOptions = {}): Promise<BackupWriter> {
    return BackupWriter.begin(this, checkGroup(group), opts);
  }

  /** beginBackup, `fill`, commit; abort (nothing left behind) when `fill` throws. */
  async runBackup(group: string, opts: BeginOptions, fill: (w: BackupWriter) => Promise<void>): Promise<Manifest> {
    const w = await this.beginBackup(group, opts);
    try {
      await fill(w);
      return await w.commit();
    } catch (e) {
      await w.abort().catch(() => undefined);
      throw e;
    }
  }

  /** Groups in the store. */
  async listGroups(): Promise<string[]> {
    const names = await readdir(paths.backups(this.root)).catch((e) => (errnoIs(e, 'ENOENT') ? [] : Promise.reject(e)));
    return names.filter((n) => !n.startsWith('.')).sort();
  }

  /** Backups oldest first, of one group or of all. */
  async listBackups(group?: string): Promise<BackupInfo[]> {
    const out: BackupInfo[] = [];
    for (const g of group ? [checkGroup(group)] : await this.listGroups()) {
      const ids = await readdir(paths.group(this.root, g)).catch((e) => (errnoIs(e, 'ENOENT') ? [] : Promise.reject(e)));
      for (const id of ids.filter((n) => /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z$/.test(n)).sort()) {
        const finished = await stat(path.join(paths.backup(this.root, g, id), manifestFileName)).then(() => true, () => false);
        out.push({ group: g, id, time: timeOfBackupId(id), finished });
      }
    }
    return out;
  }

  async readManifest(group: string, id: string): Promise<Manifest> {
    const file = path.join(this.backupDir(group, id), manifestFileName);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if (errnoIs(e, 'ENOENT')) throw new LodgeError('NOT_FOUND', `backup ${group}/${id} does not exist or is unfinished (no ${file})`, { cause: e });
      throw e;
    }
    const m = parseManifest(text, file);
    if (m.group !== group || m.id !== id) throw new LodgeError('BAD_REQUEST', `backup manifest ${file} names another backup (${m.group}/${m.id})`);
    return m;
  }

  private async indexFile(group: string, id: string, name: string, kind: IndexInfo['kind']): Promise<{ data: Buffer; file: string }> {
    const m = await this.readManifest(group, id);
    const info = m.indexes.find((x) => x.name === checkIndexName(name));
    if (!info || info.kind !== kind) throw new LodgeError('NOT_FOUND', `backup ${group}/${id} has no ${kind} named ${name}`);
    const file = path.join(this.backupDir(group, id), info.file);
    const data = await readFile(file).catch((e) => {
      throw new LodgeError('BAD_REQUEST', `index ${file} of backup ${group}/${id} cannot be read`, { cause: e });
    });
    if (createHash('sha256').update(data).digest('hex') !== info.sha256) throw new LodgeError('BAD_REQUEST', `index ${file} is damaged (its SHA-256 is not the manifest's)`);
    return { data, file };
  }

  async readFixedIndex(group: string, id: string, name: string): Promise<FixedIndex> {
    const { data, file } = await this.indexFile(group, id, name, 'disk');
    return decodeFixedIndex(data, file);
  }

  async readChunkList(group: string, id: string, name: string): Promise<ChunkList> {
    const { data, file } = await this.indexFile(group, id, name, 'tree');
    return decodeChunkList(data, file);
  }

  /** The entries of a tree's catalog, checked one by one as they are read. */
  async catalog(group: string, id: string, name: string): Promise<AsyncIterable<CatalogEntry>> {
    const list = await this.readChunkList(group, id, name);
    return this.catalogOf(list, `catalog ${name} of backup ${group}/${id}`);
  }

  catalogOf(list: ChunkList, what: string): AsyncIterable<CatalogEntry> {
    const chunks = this.chunks;
    async function* pieces() {
      for (const ref of list.chunks) {
        const data = await chunks.get(ref.id);
        if (data.length !== ref.length) throw new LodgeError('BAD_REQUEST', `${what}: chunk ${ref.id} holds ${data.length} bytes, the index says ${ref.length}`);
        yield data;
      }
    }
    return decodeCatalog(pieces(), what);
  }

  async restoreDisk(group: string, id: string, name: string, target: string, opts: DiskRestoreOptions = {}): Promise<void> {
    await restoreDisk(this.chunks, await this.readFixedIndex(group, id, name), target, opts);
  }

  /** Restores a tree into `target` (created if missing, refused unless empty); `files` picks paths. */
  async restoreTree(group: string, id: string, name: string, target: string, opts: TreeRestoreOptions = {}): Promise<TreeRestoreResult> {
    return restoreTree(this.chunks, await this.catalog(group, id, name), target, opts);
  }

  /** Removes a backup: its manifest first, so that a crash halfway leaves an unfinished backup for gc. */
  async deleteBackup(group: string, id: string): Promise<void> {
    const dir = this.backupDir(group, id);
    await unlink(path.join(dir, manifestFileName)).catch((e) => {
      if (!errnoIs(e, 'ENOENT')) throw e;
    });
    await fsyncDir(dir).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }

  /** Applies a retention policy to one group's finished backups (see prune.ts). */
  async prune(group: string, policy: PrunePolicy, opts: { dryRun?: boolean } = {}): Promise<PruneResult> {
    const lease = opts.dryRun ? undefined : await this.locks.maintenance(`prune ${group}`);
    try {
      const backups = (await this.listBackups(group)).filter((b) => b.finished);
      const kept = selectKept(backups, policy);
      const removed = backups.filter((b) => !kept.has(b.id)).map((b) => b.id);
      if (!opts.dryRun) for (const id of removed) await this.deleteBackup(group, id);
      return { kept: [...kept].map(([id, rules]) => ({ id, rules })), removed };
    } finally {
      await lease?.release();
    }
  }

  verify(opts: VerifyOptions = {}): Promise<VerifyReport> {
    return verifyStore(this, opts);
  }

  gc(opts: GcOptions = {}): Promise<GcResult> {
    return gcStore(this, opts);
  }
}

export type { BeginOptions, BackupWriter } from './writer.js';
export type { Manifest, IndexInfo } from './manifest.js';
export type { CatalogEntry } from './catalog.js';
export type { FixedIndex, ChunkList } from './index-files.js';
export type { PrunePolicy } from './prune.js';
export type { GcOptions, GcResult } from './gc.js';
export type { VerifyOptions, VerifyReport } from './verify.js';
export type { TreeRestoreOptions, TreeRestoreResult } from './tree-restore.js';
export { fileDiskSource, type DiskSource, type Progress } from './disk.js';
export { ChunkError } from './chunk-codec.js';
export { ChunkCache, entryData } from './tree-read.js';
