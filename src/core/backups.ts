/**
 * @module Backups of guests into stores that Lodge owns (storage/backup-store): a guest's
 * root volume is snapshotted (the guest paused for that instant), the snapshot's files
 * are backed up as a tree of content-defined chunks (files unchanged since the guest's last
 * backup in the store are not read again; chunks any backup has are not stored again), and
 * the snapshot goes. A backup is restored into a new guest, made as a launch is, its root
 * filled from the backup: a failure leaves no guest. The rows say which stores there are;
 * the backups are in the stores, so that another host can read them.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { create as createTar, extract as extractTar } from 'tar';
import path from 'node:path';
import { Ajv } from 'ajv';
import { BackupGuest, type Backup, type BackupFileList, type BackupGcResult, type BackupPrunePost, type BackupPruneResult, type BackupRestorePost, type BackupStore as BackupStoreInfo, type BackupStoresPost, type BackupVerifyResult, type GuestBackupsPost } from '../api/backups.js';
import { LodgeError } from '../api/errors.js';
import type { Operation } from '../api/operations.js';
import { createStore, openStore, type BackupStore, type DiskSource, type Manifest } from '../storage/backup-store/store.js';
import { BackupFiles, type BackupImages, type FilesDownload, type FilesSource } from './backup-files.js';
import type { Events } from './events.js';
import { isWithin } from '../lib/paths.js';
import { Revert } from '../lib/revert.js';
import type { GuestSpec } from '../drivers/driver.js';
import type { GuestService } from './guests.js';
import { KeyedLock } from './locks.js';
import type { Operations } from './operations.js';
import type { StorageService } from './storage.js';
import type { GuestRecord, Store, VolumeRecord } from './store.js';

export interface BackupServiceDeps {
  store: Store;
  guests: GuestService;
  storage: StorageService;
  operations: Operations;
  events: Events;
  /** Where the keys of encrypted stores are kept (root's alone). */
  keysDir: string;
  /** lodged's state directory, which no store may be in. */
  stateDir: string;
  /** What a backup's files are read with: this host's images, and lodge-userns (backup-files.ts). */
  images: BackupImages;
  readerHelper: string;
  log: (message: string) => void;
}

interface StoreRow {
  name: string;
  path: string;
  encrypted: number;
  createdAt: string;
}

/** A manifest's guest settings are the store's, which another host may have written: checked before use. */
const isBackupGuest = new Ajv({ strict: false }).compile<BackupGuest>(BackupGuest);

/** The one tree a guest's backup holds: the files of its root volume. */
const rootTree = 'root';
/** The index of a root kept as a disk. */
const rootDisk = 'disk';
/** Beside it, what lays the disk out again as its engine had it (driver.ts, RootDiskChanges.openRootDisk). */
const rootLayout = 'disk-layout';
/** A layout larger than this is not read back (a pv COW bitmap is a 4096th of its disk). */
const maxLayoutBytes = 256 * 1024 * 1024;
/** An export archive: what it says of itself, beside its store. */
const exportFile = 'lodge-export.json';
const exportStore = 'store';
interface ExportFile {
  format: 'lodge-export';
  version: 1;
  guest: BackupGuest;
  /** The id of the one backup in its store. */
  backup: string;
}
const isExportFile = (v: unknown): v is ExportFile => {
  const f = v as Partial<ExportFile> | null;
  return typeof f === 'object' && f !== null && f.format === 'lodge-export' && f.version === 1 && typeof f.backup === 'string' && isBackupGuest(f.guest);
};

/** Where a restore puts the tree inside the new volume, before moving it up (a filesystem volume has lost+found). */
const restoring = '.lodge-restore';
/** Where a disk is restored raw before its driver makes it the guest's. */
const restoringDisk = '.lodge-restore.raw';

export class BackupService {
  private readonly deps: BackupServiceDeps;
  private readonly opened = new Map<string, Promise<BackupStore>>();
  /** One backup at a time per guest. */
  private readonly lock = new KeyedLock();
  private readonly files: BackupFiles;

  constructor(deps: BackupServiceDeps) {
    this.deps = deps;
    this.files = new BackupFiles({ images: deps.images, readerHelper: deps.readerHelper });
  }

  private rows(): StoreRow[] {
    return this.deps.store.db.prepare('SELECT name, path, encrypted, created_at AS createdAt FROM backup_stores ORDER BY name').all() as StoreRow[];
  }

  private row(name: string | undefined): StoreRow {
    const rows = this.rows();
    if (name === undefined) {
      if (rows.length === 1) return rows[0]!;
      throw new LodgeError(rows.length ? 'BAD_REQUEST' : 'NOT_FOUND', rows.length ? `store: name one of the backup stores (${rows.map((r) => r.name).join(', ')})` : 'store: there is no backup store: lodge backup-store create NAME PATH makes one');
    }
    const r = rows.find((r) => r.name === name);
    if (!r) throw new LodgeError('NOT_FOUND', `backup store ${name} not found (lodge backup-store list shows what there is)`);
    return r;
  }

  private toApi(r: StoreRow, key?: string): BackupStoreInfo {
    return { name: r.name, path: r.path, encrypted: r.encrypted === 1, ...(key ? { key } : {}), createdAt: r.createdAt };
  }

  private keyFile(name: string): string {
    return path.join(this.deps.keysDir, `${name}.key`);
  }

  private open(r: StoreRow): Promise<BackupStore> {
    let s = this.opened.get(r.name);
    if (!s) {
      s = (async () => (r.encrypted ? openStore(r.path, { key: Buffer.from((await readFile(this.keyFile(r.name), 'utf8')).trim(), 'hex') }) : openStore(r.path)))();
      // a store that did not open (a disk not mounted yet) is tried again next time
      s.catch(() => this.opened.delete(r.name));
      this.opened.set(r.name, s);
    }
    return s;
  }

  /** The store a request that names none goes to: the only one there is. */
  defaultStore(): string {
    return this.row(undefined).name;
  }

  stores(): BackupStoreInfo[] {
    return this.rows().map((r) => this.toApi(r));
  }

  getStore(name: string): BackupStoreInfo {
    return this.toApi(this.row(name));
  }

  /** Makes a new store in an empty or new directory, or adds the store a directory holds already. */
  async addStore(req: BackupStoresPost): Promise<BackupStoreInfo> {
    const rows = this.rows();
    if (rows.some((r) => r.name === req.name)) throw new LodgeError('CONFLICT', `a backup store named ${req.name} exists already`);
    const dir = path.resolve(req.path);
    await this.checkStorePath(dir);
    const other = rows.find((r) => isWithin(dir, r.path) || isWithin(r.path, dir));
    if (other) throw new LodgeError('CONFLICT', `path: ${dir} overlaps backup store ${other.name} (${other.path})`);
    const given = req.key ? Buffer.from(req.key, 'hex') : undefined;
    let store: BackupStore;
    let made: string | undefined;
    const existing = existsSync(dir) ? await readdir(dir).catch(() => undefined) : [];
    if (existing === undefined) throw new LodgeError('BAD_REQUEST', `path: ${dir} is not a directory`);
    if (existing.length > 0) {
      if (req.encrypt) throw new LodgeError('BAD_REQUEST', `encrypt: ${dir} holds a store already (or other files): an existing store keeps how it was made`);
      store = await openStore(dir, given ? { key: given } : {}).catch((e: LodgeError) => {
        if (e.code === 'NOT_FOUND') throw new LodgeError('BAD_REQUEST', `path: ${dir} is neither empty nor a backup store`, { cause: e });
        throw e;
      });
    } else {
      const key = req.encrypt || given ? (given ?? randomBytes(32)) : undefined;
      store = await createStore(dir, key ? { encryptionKey: key } : {});
      if (key && !given) made = key.toString('hex');
    }
    const encrypted = store.config.encryption !== null;
    if (encrypted) {
      await mkdir(this.deps.keysDir, { recursive: true, mode: 0o700 });
      await chmod(this.deps.keysDir, 0o700);
      await writeFile(this.keyFile(req.name), `${(given ?? Buffer.from(made!, 'hex')).toString('hex')}\n`, { mode: 0o600 });
    }
    const row: StoreRow = { name: req.name, path: dir, encrypted: encrypted ? 1 : 0, createdAt: new Date().toISOString() };
    this.deps.store.db.prepare('INSERT INTO backup_stores (name, path, encrypted, created_at) VALUES (?, ?, ?, ?)').run(row.name, row.path, row.encrypted, row.createdAt);
    this.opened.set(row.name, Promise.resolve(store));
    return this.toApi(row, made);
  }

  /**
   * A store's directory is written by root: none of lodged's own state or pools is one, and
   * no one but root can swap a directory on its way for a link (a directory others may write
   * is refused unless it is sticky, as /tmp is).
   */
  private async checkStorePath(dir: string): Promise<void> {
    if (dir === '/') throw new LodgeError('BAD_REQUEST', 'path: / cannot hold a backup store');
    if (isWithin(dir, this.deps.stateDir) || isWithin(this.deps.stateDir, dir)) throw new LodgeError('BAD_REQUEST', `path: ${dir} is inside or around lodged's state directory (${this.deps.stateDir})`);
    const pool = this.deps.store.pools().find((p) => isWithin(dir, p.path) || isWithin(p.path, dir));
    if (pool) throw new LodgeError('BAD_REQUEST', `path: ${dir} is inside or around storage pool ${pool.name} (${pool.path})`);
    for (let p = path.dirname(dir); ; p = path.dirname(p)) {
      const st = await lstat(p).catch(() => undefined);
      if (st?.isSymbolicLink()) throw new LodgeError('BAD_REQUEST', `path: ${p} on the way to ${dir} is a symbolic link: give the real path`);
      if (st && (st.uid !== 0 || ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0))) {
        throw new LodgeError('BAD_REQUEST', `path: ${p} on the way to ${dir} can be changed by others than root (owner ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}), who could swap what Lodge writes`);
      }
      if (p === '/') break;
    }
  }

  /** Forgets a store; its backups stay in its directory, to be added again (with its key). */
  async removeStore(name: string): Promise<void> {
    this.row(name);
    const scheduled = (this.deps.store.db.prepare("SELECT g.name, s.keep FROM schedules s JOIN guests g ON g.id = s.guest_id WHERE s.kind = 'backup'").all() as Array<{ name: string; keep: string }>)
      .filter((r) => (JSON.parse(r.keep) as { store?: string }).store === name)
      .map((r) => r.name);
    if (scheduled.length) throw new LodgeError('CONFLICT', `backup store ${name} is where the backup schedules of ${scheduled.join(', ')} write: remove them first (lodge backup schedule NAME --off)`);
    this.deps.store.db.prepare('DELETE FROM backup_stores WHERE name = ?').run(name);
    this.opened.delete(name);
    await rm(this.keyFile(name), { force: true });
  }

  private settings(g: GuestRecord, volume: VolumeRecord): BackupGuest {
    return {
      name: g.name,
      kind: g.kind,
      image: g.image,
      imageContent: g.imageContent,
      limits: g.limits,
      options: g.options,
      networks: this.deps.guests.networkNames(g.id),
      rootSizeBytes: volume.sizeBytes,
    };
  }

  /** Backs a guest up into a store (as an operation, one at a time per guest). */
  create(name: string, req: GuestBackupsPost): Operation {
    const row = this.row(req.store);
    this.deps.guests.rootOf(name);
    return this.deps.operations.start(
      'backup.create',
      name,
      ({ progress, signal }) =>
        this.lock.with(name, async () => {
          const manifest = await this.backUp(await this.open(row), name, { progress, signal, incremental: true }).catch((e: unknown) => {
            for (let c: unknown = e; c instanceof Error; c = c.cause) {
              if ((c as NodeJS.ErrnoException).code === 'ENOSPC') throw new LodgeError('CONFLICT', `backup store ${row.name} is full (${row.path}): this backup was not kept, the earlier ones are whole (lodge backup prune and gc free space)`, { cause: e });
            }
            throw e;
          });
          this.deps.events.emit('lifecycle', name, 'updated', { backup: manifest.id, store: row.name });
        }),
      { cancellable: true },
    );
  }

  /**
   * Backs a guest up into `store`: its root volume snapshotted (the guest paused for that
   * instant) under a name no row has (a lodged killed meanwhile leaves it to the next
   * start's sweep), the snapshot backed up (incremental: over the guest's last backup in
   * the store), the snapshot gone. A kind whose engine tracks its root disk's changes has
   * the disk as its guest sees it backed up, after the first only the chunks changed since
   * the last backup's mark; other kinds have the files of their root volume backed up.
   */
  private async backUp(store: BackupStore, name: string, how: { progress: (p: number, step: string) => void; signal: AbortSignal; incremental: boolean }): Promise<Manifest> {
    const { progress, signal } = how;
    const snapshot = `lodge-backup-${randomBytes(4).toString('hex')}`;
    const previous = how.incremental ? (await store.listBackups(name)).filter((b) => b.finished).at(-1) : undefined;
    return store.runBackup(name, {}, async (w) => {
      progress(5, 'taking a snapshot of its root volume');
      const { volume, spec, disks, changed } = await this.deps.guests.withLocked(name, async (locked) => {
        const volume = this.deps.guests.rootOf(name);
        const disks = this.deps.guests.rootDisks(locked.record.kind);
        const running = locked.record.state !== 'stopped';
        const changed = await locked.quiesced('a snapshot for a backup being taken', async () => {
          // an export (not incremental) leaves the marks of the guest's backups as they are
          const marked = how.incremental ? await disks?.markChanges(locked.spec, running, markOf(w.id), previous && markOf(previous.id)) : undefined;
          await this.deps.storage.snapshotVolume(volume, snapshot, signal);
          return marked;
        });
        w.describe(this.settings(locked.record, volume));
        return { volume, spec: locked.spec, disks, changed };
      });
      try {
        const dir = await this.deps.storage.openSnapshot(volume, snapshot);
        const over = previous ? { previous: { group: name, id: previous.id } } : {};
        const onProgress = ({ done, total }: { done: number; total?: number }) => progress(10 + (total ? (85 * done) / total : 0), `backed up ${Math.round(done / 1024 / 1024)} MiB`);
        if (disks) {
          progress(10, changed ? `backing up what changed on its disk since ${previous!.id}` : 'backing up its disk');
          const disk = await disks.openRootDisk(spec, dir);
          try {
            await w.addDisk(rootDisk, disk, { ...over, ...(changed ? { dirty: chunksOf(changed, store.config.chunks.fixedSize) } : {}), signal, onProgress });
            if (disk.layout) await w.addDisk(rootLayout, bufferDisk(disk.layout), { signal });
          } finally {
            await disk.close();
          }
        } else {
          progress(10, previous ? `backing up what changed since ${previous.id}` : 'backing up its root volume');
          await w.addTree(rootTree, dir, { ...over, signal, onProgress });
        }
      } finally {
        await this.deps.storage.closeSnapshot(volume, snapshot).catch(() => {});
        await this.deps.storage.deleteVolumeSnapshot(volume, snapshot).catch((e: Error) => this.deps.log(`${name}: removing the snapshot of its backup failed (the next start does): ${e.message}`));
      }
    });
  }

  /**
   * A guest as one archive that imports on another Lodge host: a tar of lodge-export.json and
   * a backup store of its own holding one backup of the guest (chunks compressed with zstd,
   * each checked by its SHA-256, the manifest by the index's). Made in `scratch`; the stream's
   * end (or failure) removes it.
   */
  async exportGuest(name: string, scratch: string, signal: AbortSignal): Promise<Readable> {
    this.deps.guests.rootOf(name);
    const dir = await mkdtemp(path.join(scratch, 'export-'));
    try {
      const store = await createStore(path.join(dir, exportStore));
      const manifest = await this.lock.with(name, () => this.backUp(store, name, { progress: () => {}, signal, incremental: false }));
      const about: ExportFile = { format: 'lodge-export', version: 1, guest: manifest.guest as BackupGuest, backup: manifest.id };
      await writeFile(path.join(dir, exportFile), `${JSON.stringify(about, null, 2)}\n`);
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
    const tar = createTar({ cwd: dir, portable: true }, [exportFile, exportStore]) as unknown as Readable;
    const cleanup = () => void rm(dir, { recursive: true, force: true });
    tar.once('end', cleanup).once('error', cleanup).once('close', cleanup);
    return tar;
  }

  /**
   * Makes a new guest from an exported archive (`file`, lodged's: removed here). Only files
   * and directories are taken from the tar, none outside its directory; the store in it is
   * then read as any store is (every chunk checked), so a damaged archive fails its restore
   * and leaves no guest.
   */
  async importGuest(file: string, req: BackupRestorePost, scratch: string): Promise<Operation> {
    const dir = await mkdtemp(path.join(scratch, 'import-'));
    const cleanup = () => rm(dir, { recursive: true, force: true });
    try {
      let odd: string | undefined;
      await extractTar({
        file,
        cwd: dir,
        strict: true,
        filter: (p, entry) => {
          const type = 'type' in entry ? entry.type : undefined;
          if (type === 'File' || type === 'Directory') return true;
          odd ??= `${p} is a ${String(type)}`;
          return false;
        },
      }).catch((e: Error) => {
        throw new LodgeError('BAD_REQUEST', `the archive cannot be read as a Lodge export (a tar)`, { cause: e });
      });
      if (odd) throw new LodgeError('BAD_REQUEST', `the archive is not a Lodge export: ${odd}, where only files and directories belong`);
      const text = await readFile(path.join(dir, exportFile), 'utf8').catch(() => {
        throw new LodgeError('BAD_REQUEST', `the archive is not a Lodge export: it has no ${exportFile}`);
      });
      let about: unknown;
      try {
        about = JSON.parse(text);
      } catch (e) {
        throw new LodgeError('BAD_REQUEST', `${exportFile} in the archive is not JSON`, { cause: e });
      }
      if (!isExportFile(about)) throw new LodgeError('BAD_REQUEST', `${exportFile} in the archive is not a Lodge export's (format lodge-export, version 1, a guest and its backup)`);
      const store = await openStore(path.join(dir, exportStore));
      await store.readManifest(about.guest.name, about.backup).catch((e: Error) => {
        throw new LodgeError('BAD_REQUEST', 'the archive is not a whole Lodge export (cut short, or damaged): its backup cannot be read', { cause: e });
      });
      const op = await this.restoreFrom(store, about.guest.name, about.backup, req, 'archive');
      void this.deps.operations.wait(op.id, 24 * 3600 * 1000).finally(cleanup);
      return op;
    } catch (e) {
      await cleanup();
      throw e;
    } finally {
      await rm(file, { force: true });
    }
  }

  private toBackup(store: string, group: string, id: string, m?: Manifest): Backup {
    const settings = m && isBackupGuest(m.guest) ? m.guest : undefined;
    const tree = m?.indexes.find((x) => x.name === rootTree || x.name === rootDisk);
    return {
      store,
      guest: group,
      id,
      finished: m !== undefined,
      ...(m ? { createdAt: m.createdAt, readBytes: m.bytesRead, storedBytes: m.bytesStored } : {}),
      ...(tree ? { sizeBytes: tree.size } : {}),
      ...(settings ? { settings } : {}),
    };
  }

  async list(storeName: string, guest?: string): Promise<Backup[]> {
    const row = this.row(storeName);
    const store = await this.open(row);
    const out: Backup[] = [];
    for (const b of await store.listBackups(guest)) {
      const m = b.finished ? await store.readManifest(b.group, b.id).catch(() => undefined) : undefined;
      out.push(this.toBackup(row.name, b.group, b.id, m));
    }
    return out;
  }

  async get(storeName: string, guest: string, id: string): Promise<Backup> {
    const row = this.row(storeName);
    return this.toBackup(row.name, guest, id, await (await this.open(row)).readManifest(guest, id));
  }

  async delete(storeName: string, guest: string, id: string): Promise<void> {
    const store = await this.open(this.row(storeName));
    await store.readManifest(guest, id);
    await store.deleteBackup(guest, id);
  }

  /**
   * Makes a new guest from a backup, as a launch does (a failure leaves none): the backed-up
   * guest's kind, image, options, limits and networks (those this host has), its root filled
   * from the backup.
   */
  async restore(storeName: string, guest: string, id: string, req: BackupRestorePost): Promise<Operation> {
    const store = await this.open(this.row(storeName));
    return req.over ? this.restoreOver(store, guest, id, req.name ?? guest, req.start ?? false) : this.restoreFrom(store, guest, id, req);
  }

  /**
   * Puts a backup back over an existing stopped guest of the same kind and image: its root
   * volume is replaced whole by one filled from the backup (a failure leaves it as it was),
   * its settings stay, and its host-side files are made its own again (a disk restored from
   * another guest's backup was that guest's engine's).
   */
  private async restoreOver(store: BackupStore, guest: string, id: string, name: string, start: boolean): Promise<Operation> {
    const m = await store.readManifest(guest, id);
    const settings = settingsIn(m, guest, id);
    const check = (g: GuestRecord) => {
      if (g.state !== 'stopped') throw new LodgeError('CONFLICT', `cannot restore over ${name}: it is ${g.state}; stop it first (what it holds now is replaced)`);
      if (g.kind !== settings.kind || g.image !== settings.image) throw new LodgeError('CONFLICT', `cannot restore over ${name}: it is a ${g.kind} guest of image ${g.image}, the backup a ${settings.kind} guest of ${settings.image}`);
      const kind = this.deps.guests.kindInfo(g.kind);
      if (g.imageContent !== settings.imageContent && kind?.rootContent !== 'filesystem' && !holdsDisk(m)) {
        throw new LodgeError('CONFLICT', `cannot restore over ${name}: the backup's disk was written over another version of image ${g.image} than ${name}'s`);
      }
    };
    const g = this.deps.store.guest(name);
    if (!g) throw new LodgeError('NOT_FOUND', `guest ${name} not found (leave out --over to make it from the backup)`);
    check(g);
    return this.deps.operations.start('backup.restore', name, ({ progress, signal }) =>
      this.deps.guests.withLocked(name, async (locked) => {
        check(locked.record);
        const volume = this.deps.guests.rootOf(name);
        progress(10, `replacing its root volume with backup ${guest}/${id}`);
        await this.deps.storage.refillVolume(volume, (dir) => this.fillFrom(store, m, dir, signal, locked.spec));
        const revert = new Revert();
        const ctx = { signal, progress, revert };
        await locked.driver.create({ ...locked.spec, root: { ...locked.spec.root!, copied: true } }, ctx);
        revert.success();
        this.deps.events.emit('lifecycle', name, 'updated', { restored: `${guest}/${id}` });
        if (start) {
          progress(70, 'starting it');
          const starting = new Revert();
          await locked.start({ signal, progress, revert: starting });
          starting.success();
          locked.setState('running');
        }
      }),
    );
  }

  /** `trust`: a store of this host's, or an archive from anywhere (whose privileged container is refused unless asked for). */
  private async restoreFrom(store: BackupStore, guest: string, id: string, req: BackupRestorePost, trust: 'store' | 'archive' = 'store'): Promise<Operation> {
    const m = await store.readManifest(guest, id);
    const settings = settingsIn(m, guest, id);
    const name = req.name ?? settings.name;
    const kind = this.deps.guests.kindInfo(settings.kind);
    if (!kind) throw new LodgeError('UNSUPPORTED', `backup ${guest}/${id} is of a ${settings.kind} guest, which this host cannot run`);
    let imageContent = settings.imageContent;
    if (!this.deps.guests.hasImageContent(settings.image, imageContent)) {
      // a container's layer applies over whatever version of its image this host has, as does a whole disk; a disk's changed blocks only over the one they were written over
      const current = this.deps.store.image(settings.image)?.content;
      if ((kind.rootContent !== 'filesystem' && !holdsDisk(m)) || current === undefined) {
        throw new LodgeError('CONFLICT', `backup ${guest}/${id} was written over a version of image ${settings.image} that this host does not have${current === undefined ? ' (it has no such image)' : ' (it was rebuilt since, or made on another host)'}: a ${settings.kind} guest's disk cannot be put back over another`);
      }
      imageContent = current;
    }
    if (settings.options.privileged && trust === 'archive' && !req.privileged) {
      throw new LodgeError('CONFLICT', `the archive is of a privileged container, whose root is the host's root: import it with --privileged only if you trust where it comes from`);
    }
    const networks = settings.networks.filter((n) => this.deps.store.network(n)).map((network) => ({ network }));
    return this.deps.guests.launch(
      { name, image: settings.image, kind: settings.kind, limits: settings.limits, options: settings.options, networks, start: req.start ?? false },
      {
        what: `restoring its root volume from backup ${guest}/${id}`,
        pool: this.deps.storage.poolFor(undefined).name,
        sizeBytes: settings.rootSizeBytes,
        imageContent,
        fill: async (volume, signal, spec) => {
          const { dir } = await this.deps.storage.createVolume(volume);
          await this.fillFrom(store, m, dir, signal, spec);
        },
      },
      trust === 'archive' ? 'guest.import' : 'backup.restore',
    );
  }

  /**
   * Puts a backup's root into an empty volume's directory: a disk through its kind's driver
   * (thin over this host's base of its image), a tree restored beside what the volume has
   * of its own (a filesystem's lost+found), then moved up.
   */
  private async fillFrom(store: BackupStore, m: Manifest, dir: string, signal: AbortSignal, spec: GuestSpec): Promise<void> {
    if (holdsDisk(m)) {
      const disks = this.deps.guests.rootDisks(spec.kind);
      if (!disks) throw new LodgeError('UNSUPPORTED', `backup ${m.group}/${m.id} holds a disk, which ${spec.kind} guests do not take`);
      const index = await store.readFixedIndex(m.group, m.id, rootDisk);
      if (spec.root && index.size !== spec.root.sizeBytes) {
        throw new LodgeError('CONFLICT', `backup ${m.group}/${m.id} holds a disk of ${index.size} bytes, where ${spec.name}'s is ${spec.root.sizeBytes}`);
      }
      const raw = path.join(dir, restoringDisk);
      await store.restoreDisk(m.group, m.id, rootDisk, raw, { signal });
      await disks.adoptRootDisk(spec, dir, raw, await this.layoutOf(store, m, `${raw}.layout`, signal), signal);
      return;
    }
    // an unprivileged container's files get nothing that is host root's, whatever the backup says
    const files = this.deps.guests.kindInfo(spec.kind)?.rootFiles;
    const ids = files?.as === 'overlay' && !spec.options.privileged ? files.idMap : undefined;
    await store.restoreTree(m.group, m.id, rootTree, path.join(dir, restoring), { signal, ...(ids ? { ids } : {}) });
    await moveUp(dir, restoring);
  }

  /** The layout a disk backup keeps beside its disk, if any: read through `file`, removed after. */
  private async layoutOf(store: BackupStore, m: Manifest, file: string, signal: AbortSignal): Promise<Buffer | undefined> {
    if (!m.indexes.some((x) => x.name === rootLayout)) return undefined;
    const index = await store.readFixedIndex(m.group, m.id, rootLayout);
    if (index.size > maxLayoutBytes) throw new LodgeError('BAD_REQUEST', `backup ${m.group}/${m.id} says its disk's layout holds ${index.size} bytes, more than the ${maxLayoutBytes} a layout can`);
    try {
      await store.restoreDisk(m.group, m.id, rootLayout, file, { signal });
      return await readFile(file);
    } finally {
      await rm(file, { force: true });
    }
  }

  /** A directory (or a file) of a backup, as the guest saw it. */
  async listFiles(storeName: string, guest: string, id: string, dir: string, scratch: string): Promise<BackupFileList> {
    return this.files.list(await this.filesOf(storeName, guest, id), dir, scratch);
  }

  /** Files and directories of a backup, as a tar. */
  async downloadFiles(storeName: string, guest: string, id: string, paths: string[], scratch: string, signal: AbortSignal): Promise<FilesDownload> {
    return this.files.download(await this.filesOf(storeName, guest, id), paths, scratch, signal);
  }

  private async filesOf(storeName: string, guest: string, id: string): Promise<FilesSource> {
    const store = await this.open(this.row(storeName));
    const m = await store.readManifest(guest, id);
    const settings = settingsIn(m, guest, id);
    return { store, group: guest, id, tree: rootTree, settings, rootFiles: holdsDisk(m) ? { as: 'whole-disk', index: rootDisk } : this.deps.guests.kindInfo(settings.kind)?.rootFiles };
  }

  async verify(storeName: string): Promise<BackupVerifyResult> {
    const r = await (await this.open(this.row(storeName))).verify();
    return { ok: r.ok, backups: r.backups, chunks: r.chunks, damaged: r.damaged, broken: r.broken };
  }

  async prune(storeName: string, req: BackupPrunePost): Promise<BackupPruneResult> {
    const store = await this.open(this.row(storeName));
    const policy = { ...(req.keepLast !== undefined ? { keepLast: req.keepLast } : {}), ...(req.keepDaily !== undefined ? { keepDaily: req.keepDaily } : {}), ...(req.keepWeekly !== undefined ? { keepWeekly: req.keepWeekly } : {}) };
    if (Object.keys(policy).length === 0) throw new LodgeError('BAD_REQUEST', 'keepLast, keepDaily, keepWeekly: say what to keep (at least one of them)');
    const r = await store.prune(req.guest, policy, { dryRun: req.dryRun ?? false });
    return { kept: r.kept.map((k) => k.id), removed: r.removed };
  }

  async gc(storeName: string): Promise<BackupGcResult> {
    const r = await (await this.open(this.row(storeName))).gc();
    return { removedChunks: r.removedChunks, removedBytes: r.removedBytes, removedUnfinished: r.removedUnfinished, missingChunks: r.missingChunks };
  }
}

function settingsIn(m: Manifest, guest: string, id: string): BackupGuest {
  if (!isBackupGuest(m.guest)) throw new LodgeError('BAD_REQUEST', `backup ${guest}/${id} does not say what guest it is of`);
  return m.guest;
}

/** Whether a backup holds its guest's root as a disk (not as the files of its volume). */
const holdsDisk = (m: Manifest) => m.indexes.some((x) => x.name === rootDisk && x.kind === 'disk');

/** The mark of a guest's disk that a backup starts: what changed after it is the next backup's. */
const markOf = (backupId: string) => `lodge-${backupId}`;

/** The fixed-size chunks that [offset, length) ranges touch. */
function chunksOf(ranges: Array<[number, number]>, chunkSize: number): Set<number> {
  const chunks = new Set<number>();
  for (const [offset, length] of ranges) {
    for (let c = Math.floor(offset / chunkSize); c * chunkSize < offset + length; c++) chunks.add(c);
  }
  return chunks;
}

/** A few bytes as a disk, to keep in a store as one. */
const bufferDisk = (bytes: Buffer): DiskSource => ({ size: bytes.length, read: async (offset, length) => bytes.subarray(offset, offset + length) });

/** Moves what `dir/sub` holds up into `dir` (what is there already, a filesystem's lost+found, stays), then removes `sub`. */
async function moveUp(dir: string, sub: string): Promise<void> {
  const from = path.join(dir, sub);
  const there = new Set(await readdir(dir));
  for (const entry of await readdir(from)) {
    if (!there.has(entry)) await rename(path.join(from, entry), path.join(dir, entry));
  }
  await rm(from, { recursive: true, force: true });
}
