/**
 * @module The state store: SQLite in WAL mode, with its schema migrations in code.
 * It holds what lodged knows (guests, images, operations); what runs is found on the
 * host and reconciled with it at start.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import type { GuestKind } from '../api/common.js';
import type { AutonomicPolicy, GuestOptions, GuestState, Limits, Priority, RestartPolicy } from '../api/guests.js';
import type { ImageFormat } from '../api/images.js';
import type { Operation } from '../api/operations.js';
import type { PoolDriverName, VolumeContent } from '../api/storage.js';

export interface GuestRecord {
  id: number;
  name: string;
  kind: GuestKind;
  image: string;
  state: GuestState;
  stateReason?: string;
  limits: Limits;
  restart: RestartPolicy;
  /** Whether the autonomic loop balances its memory. */
  autonomic: AutonomicPolicy;
  /** Its CPU weight against the other guests' (autonomic/cpu-shares.ts). */
  priority: Priority;
  /** Whether lodged starts it at its own start when it ended without being stopped, and its place among those (lower first). */
  autostart: boolean;
  autostartOrder: number;
  /** The options of its launch that its kind takes (privileged, accel, profile). */
  options: GuestOptions;
  /** The version of its image's content it was made from (ImageRecord.content then). */
  imageContent: string;
  createdAt: string;
}

export interface ImageRecord {
  name: string;
  format: ImageFormat;
  init: string;
  stopSignal: string;
  /** Of its content alone; its bases and earlier versions are ImageFileRecords. */
  sizeBytes: number;
  source: string;
  /** The version of its content: a new id at each build or import, which its bases are named by. */
  content: string;
  createdAt: string;
}

/**
 * A file an image keeps beside its current content: a base made from it for guests
 * (images/derived.ts), or the content of an earlier version, kept while guests made from it exist.
 */
export interface ImageFileRecord {
  image: string;
  /** Its name in the image's directory. */
  file: string;
  role: 'base' | 'version';
  /** The version of the image's content it is, or was made from. */
  content: string;
  sizeBytes: number;
}

export interface NetworkRecord {
  name: string;
  subnet: string;
  /** Masquerades its guests towards the host's uplink (when lodged runs with --uplink); false for isolated networks. */
  nat: boolean;
  /** Its Linux bridge on the host. */
  bridge: string;
  createdAt: string;
}

export interface NicRecord {
  guestId: number;
  index: number;
  network: string;
  mac: string;
  /** Without the prefix length: the network's subnet has it. */
  address: string;
}

export interface PoolRecord {
  name: string;
  driver: PoolDriverName;
  /** The directory, block device or file that holds it. */
  source: string;
  /** Where its volumes are: its directory, or where its filesystem is mounted. */
  path: string;
  /** btrfs on a file that Lodge made: the file's size. */
  fileBytes?: number;
  /** btrfs on a device: its filesystem's UUID, by which it is mounted. */
  uuid?: string;
  /** The size of a filesystem root volume launched without a disk size. */
  volumeSizeBytes: number;
  createdAt: string;
}

export interface VolumeRecord {
  id: number;
  pool: string;
  /** Where in the pool: guests/ID for a guest's root. */
  key: string;
  content: VolumeContent;
  sizeBytes: number;
  /** The guest whose root it is, and its name. */
  guestId?: number;
  guest?: string;
  /** Its filesystem has been a pv or vm guest's disk: a guest's kernel wrote it, and the host's never mounts it. */
  kernelWritten?: boolean;
  createdAt: string;
}

export interface AttachmentRecord {
  volume: VolumeRecord;
  guestId: number;
  guest: string;
  /** ct: where the guest sees it mounted. */
  path?: string;
  /** pv, vm: the disk the guest sees. */
  device?: string;
  /** Its disk's place in the guest, from 1 (the root is 0). */
  slot: number;
}

export interface SnapshotRecord {
  id: number;
  guestId: number;
  name: string;
  stateful: boolean;
  /** The guest's state and limits when it was taken. */
  guestState: GuestState;
  limits: Limits;
  createdAt: string;
}

export interface ForwardRecord {
  guestId: number;
  proto: 'tcp' | 'udp';
  hostPort: number;
  guestPort: number;
}

/** Each entry moves the schema one version on; never edit one that has shipped. */
export const migrations: readonly string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE guests (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     name TEXT NOT NULL UNIQUE,
     kind TEXT NOT NULL,
     image TEXT NOT NULL,
     state TEXT NOT NULL,
     state_reason TEXT,
     privileged INTEGER NOT NULL,
     limits TEXT NOT NULL,
     created_at TEXT NOT NULL);
   CREATE TABLE images (
     name TEXT PRIMARY KEY,
     init TEXT NOT NULL,
     stop_signal TEXT NOT NULL,
     size_bytes INTEGER NOT NULL,
     source TEXT NOT NULL,
     created_at TEXT NOT NULL);
   CREATE TABLE operations (
     id TEXT PRIMARY KEY,
     body TEXT NOT NULL,
     updated_at TEXT NOT NULL);`,
  `ALTER TABLE guests ADD COLUMN vm TEXT;
   ALTER TABLE images ADD COLUMN format TEXT NOT NULL DEFAULT 'rootfs';`,
  `CREATE TABLE networks (
     name TEXT PRIMARY KEY,
     subnet TEXT NOT NULL,
     created_at TEXT NOT NULL);
   CREATE TABLE nics (
     guest_id INTEGER NOT NULL REFERENCES guests(id) ON DELETE CASCADE,
     idx INTEGER NOT NULL,
     network TEXT NOT NULL REFERENCES networks(name),
     mac TEXT NOT NULL UNIQUE,
     address TEXT NOT NULL,
     PRIMARY KEY (guest_id, idx),
     UNIQUE (network, address));`,
  `CREATE TABLE forwards (
     guest_id INTEGER NOT NULL REFERENCES guests(id) ON DELETE CASCADE,
     proto TEXT NOT NULL,
     host_port INTEGER NOT NULL,
     guest_port INTEGER NOT NULL,
     PRIMARY KEY (proto, host_port));`,
  `ALTER TABLE networks ADD COLUMN nat INTEGER NOT NULL DEFAULT 1;`,
  // a network's bridge is chosen when it is made: lb-NAME, unless another lodged on the host has that one
  `ALTER TABLE networks ADD COLUMN bridge TEXT;
   UPDATE networks SET bridge = 'lb-' || name;
   CREATE UNIQUE INDEX networks_bridge ON networks (bridge);`,
  // a guest's root is a volume of a pool; guests made before pools keep theirs in their own directory, with no row
  `CREATE TABLE storage_pools (
     name TEXT PRIMARY KEY,
     driver TEXT NOT NULL,
     source TEXT NOT NULL,
     path TEXT NOT NULL UNIQUE,
     file_bytes INTEGER,
     uuid TEXT,
     volume_size_bytes INTEGER NOT NULL,
     created_at TEXT NOT NULL);
   CREATE TABLE volumes (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     pool TEXT NOT NULL REFERENCES storage_pools(name),
     key TEXT NOT NULL,
     content TEXT NOT NULL,
     size_bytes INTEGER NOT NULL,
     guest_id INTEGER UNIQUE REFERENCES guests(id) ON DELETE CASCADE,
     created_at TEXT NOT NULL,
     UNIQUE (pool, key));`,
  // a volume of its own is attached to one guest at a time, in a slot (its disk's place in the guest); a guest's delete detaches its volumes
  `CREATE TABLE volume_attachments (
     volume_id INTEGER PRIMARY KEY REFERENCES volumes(id),
     guest_id INTEGER NOT NULL REFERENCES guests(id) ON DELETE CASCADE,
     path TEXT,
     device TEXT,
     slot INTEGER NOT NULL,
     UNIQUE (guest_id, slot));
   ALTER TABLE volumes ADD COLUMN kernel_written INTEGER NOT NULL DEFAULT 0;`,
  // a kind's launch options in one object, whatever the kind: no column per option
  `ALTER TABLE guests ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
   UPDATE guests SET options = json_patch(CASE WHEN privileged = 1 THEN '{"privileged":true}' ELSE '{}' END, coalesce(vm, '{}'));
   ALTER TABLE guests DROP COLUMN privileged;
   ALTER TABLE guests DROP COLUMN vm;`,
  // an image's content has versions (a rebuild makes a new one); an earlier one and the bases made
  // from each stay while guests made from it do; what was there before versions is the version 'legacy'
  `ALTER TABLE images ADD COLUMN content TEXT NOT NULL DEFAULT 'legacy';
   ALTER TABLE guests ADD COLUMN image_content TEXT NOT NULL DEFAULT 'legacy';
   CREATE TABLE image_files (
     image TEXT NOT NULL,
     file TEXT NOT NULL,
     role TEXT NOT NULL,
     content TEXT NOT NULL,
     size_bytes INTEGER NOT NULL,
     created_at TEXT NOT NULL,
     PRIMARY KEY (image, file));`,
  // a guest's snapshots (their bytes are its root volume's, in its pool), gone with it
  `CREATE TABLE snapshots (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     guest_id INTEGER NOT NULL REFERENCES guests(id) ON DELETE CASCADE,
     name TEXT NOT NULL,
     stateful INTEGER NOT NULL,
     guest_state TEXT NOT NULL,
     limits TEXT NOT NULL,
     created_at TEXT NOT NULL,
     UNIQUE (guest_id, name));`,
  // backup stores Lodge writes to (the backups are in the stores themselves)
  `CREATE TABLE backup_stores (
     name TEXT PRIMARY KEY,
     path TEXT NOT NULL UNIQUE,
     encrypted INTEGER NOT NULL,
     created_at TEXT NOT NULL);`,
  // snapshots and backups lodged takes of a guest every so often
  `CREATE TABLE schedules (
     guest_id INTEGER NOT NULL REFERENCES guests(id) ON DELETE CASCADE,
     kind TEXT NOT NULL,
     every_seconds INTEGER NOT NULL,
     keep TEXT NOT NULL,
     last_run_at TEXT,
     last_result TEXT,
     next_run_at TEXT NOT NULL,
     PRIMARY KEY (guest_id, kind));`,
  // who may use the API over HTTPS (over the unix socket the caller is root): users with a scrypt
  // hash, their sessions and API tokens, both kept only as SHA-256 of their secret
  `CREATE TABLE users (
     name TEXT PRIMARY KEY,
     role TEXT NOT NULL,
     password_hash TEXT NOT NULL,
     created_at TEXT NOT NULL);
   CREATE TABLE sessions (
     id_hash TEXT PRIMARY KEY,
     user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
     expires_at INTEGER NOT NULL,
     created_at TEXT NOT NULL);
   CREATE TABLE tokens (
     name TEXT PRIMARY KEY,
     secret_hash TEXT NOT NULL UNIQUE,
     user_name TEXT REFERENCES users(name) ON DELETE CASCADE,
     role TEXT NOT NULL,
     created_at TEXT NOT NULL);`,
  // what lodged does when a guest's engine ends on its own (autonomic/restart-policy.ts)
  `ALTER TABLE guests ADD COLUMN restart TEXT NOT NULL DEFAULT 'no';`,
  // whether the autonomic loop balances the guest's memory (autonomic/memory-balance.ts)
  `ALTER TABLE guests ADD COLUMN autonomic TEXT NOT NULL DEFAULT 'on';`,
  // its CPU weight against the other guests' (autonomic/cpu-shares.ts)
  `ALTER TABLE guests ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';`,
  // whether lodged starts it again at its own start when it ended without being stopped, and in what order
  `ALTER TABLE guests ADD COLUMN autostart INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE guests ADD COLUMN autostart_order INTEGER NOT NULL DEFAULT 0;`,
];

type NetworkRow = Omit<NetworkRecord, 'nat'> & { nat: number };

const selectPool = 'SELECT name, driver, source, path, file_bytes AS fileBytes, uuid, volume_size_bytes AS volumeSizeBytes, created_at AS createdAt FROM storage_pools';
type PoolRow = Omit<PoolRecord, 'fileBytes' | 'uuid'> & { fileBytes: number | null; uuid: string | null };
const toPool = (r: PoolRow): PoolRecord => {
  const { fileBytes, uuid, ...rest } = r;
  return { ...rest, ...(fileBytes !== null ? { fileBytes } : {}), ...(uuid !== null ? { uuid } : {}) };
};
const selectVolume =
  'SELECT volumes.id, pool, key, content, size_bytes AS sizeBytes, guest_id AS guestId, guests.name AS guest, kernel_written AS kernelWritten, volumes.created_at AS createdAt FROM volumes LEFT JOIN guests ON guests.id = volumes.guest_id';
type VolumeRow = Omit<VolumeRecord, 'kernelWritten'> & { guestId: number | null; guest: string | null; kernelWritten: number };
const toVolume = (r: VolumeRow): VolumeRecord => {
  const { guestId, guest, kernelWritten, ...rest } = r;
  return { ...rest, ...(guestId !== null ? { guestId } : {}), ...(guest !== null ? { guest } : {}), ...(kernelWritten ? { kernelWritten: true } : {}) };
};
const selectNetwork = 'SELECT name, subnet, nat, bridge, created_at AS createdAt FROM networks';
const toNetwork = (r: NetworkRow): NetworkRecord => ({ ...r, nat: r.nat === 1 });

interface GuestRow {
  id: number;
  name: string;
  kind: string;
  image: string;
  state: string;
  state_reason: string | null;
  limits: string;
  options: string;
  restart: string;
  autonomic: string;
  priority: string;
  autostart: number;
  autostart_order: number;
  image_content: string;
  created_at: string;
}

const toGuest = (r: GuestRow): GuestRecord => ({
  id: r.id,
  name: r.name,
  kind: r.kind as GuestKind,
  image: r.image,
  state: r.state as GuestState,
  ...(r.state_reason ? { stateReason: r.state_reason } : {}),
  limits: JSON.parse(r.limits) as Limits,
  restart: r.restart as RestartPolicy,
  autonomic: r.autonomic as AutonomicPolicy,
  priority: r.priority as Priority,
  autostart: r.autostart === 1,
  autostartOrder: r.autostart_order,
  options: JSON.parse(r.options) as GuestOptions,
  imageContent: r.image_content,
  createdAt: r.created_at,
});

export class Store {
  readonly db: Database.Database;
  /** A short random id of this installation: host-wide names (cgroups) carry it so two daemons never collide. */
  readonly instance: string;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // WAL with synchronous=NORMAL is durable across a daemon crash; only a power cut may lose the last commits
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.migrate();
    this.instance = this.metaValue('instance') ?? this.setMeta('instance', randomBytes(3).toString('hex'));
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < migrations.length; v++) {
      this.db.transaction(() => {
        this.db.exec(migrations[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  metaValue(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): string {
    this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
    return value;
  }

  close(): void {
    this.db.close();
  }

  // guests

  /** Runs `fn` in one transaction: all of its writes land, or none. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  insertGuest(
    asked: Omit<GuestRecord, 'id' | 'createdAt' | 'restart' | 'autonomic' | 'priority' | 'autostart' | 'autostartOrder'> &
      Partial<Pick<GuestRecord, 'restart' | 'autonomic' | 'priority' | 'autostart' | 'autostartOrder'>>,
  ): GuestRecord {
    const g = { ...asked, restart: asked.restart ?? 'no', autonomic: asked.autonomic ?? 'on', priority: asked.priority ?? 'normal', autostart: asked.autostart ?? false, autostartOrder: asked.autostartOrder ?? 0 };
    const createdAt = new Date().toISOString();
    const info = this.db
      .prepare(
        'INSERT INTO guests (name, kind, image, image_content, state, state_reason, limits, restart, autonomic, priority, autostart, autostart_order, options, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(g.name, g.kind, g.image, g.imageContent, g.state, g.stateReason ?? null, JSON.stringify(g.limits), g.restart, g.autonomic, g.priority, g.autostart ? 1 : 0, g.autostartOrder, JSON.stringify(g.options), createdAt);
    return { ...g, id: Number(info.lastInsertRowid), createdAt };
  }

  guest(name: string): GuestRecord | undefined {
    const row = this.db.prepare('SELECT * FROM guests WHERE name = ?').get(name) as GuestRow | undefined;
    return row && toGuest(row);
  }

  guests(): GuestRecord[] {
    return (this.db.prepare('SELECT * FROM guests ORDER BY name').all() as GuestRow[]).map(toGuest);
  }

  setGuestState(id: number, state: GuestState, reason?: string): void {
    this.db.prepare('UPDATE guests SET state = ?, state_reason = ? WHERE id = ?').run(state, reason ?? null, id);
  }

  setGuestLimits(id: number, limits: Limits): void {
    this.db.prepare('UPDATE guests SET limits = ? WHERE id = ?').run(JSON.stringify(limits), id);
  }

  /** Everything else of a guest's is keyed by its id: its name is this one column. */
  renameGuest(id: number, name: string): void {
    this.db.prepare('UPDATE guests SET name = ? WHERE id = ?').run(name, id);
  }

  setGuestRestart(id: number, restart: RestartPolicy): void {
    this.db.prepare('UPDATE guests SET restart = ? WHERE id = ?').run(restart, id);
  }

  setGuestAutonomic(id: number, autonomic: AutonomicPolicy): void {
    this.db.prepare('UPDATE guests SET autonomic = ? WHERE id = ?').run(autonomic, id);
  }

  setGuestPriority(id: number, priority: Priority): void {
    this.db.prepare('UPDATE guests SET priority = ? WHERE id = ?').run(priority, id);
  }

  setGuestAutostart(id: number, autostart: boolean, order: number): void {
    this.db.prepare('UPDATE guests SET autostart = ?, autostart_order = ? WHERE id = ?').run(autostart ? 1 : 0, order, id);
  }

  deleteGuest(id: number): void {
    this.db.prepare('DELETE FROM guests WHERE id = ?').run(id);
  }

  // images

  upsertImage(i: ImageRecord): void {
    this.db
      .prepare('INSERT OR REPLACE INTO images (name, format, init, stop_signal, size_bytes, source, content, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(i.name, i.format, i.init, i.stopSignal, i.sizeBytes, i.source, i.content, i.createdAt);
  }

  image(name: string): ImageRecord | undefined {
    const r = this.db.prepare('SELECT * FROM images WHERE name = ?').get(name) as Record<string, string | number> | undefined;
    return r && {
      name: r.name as string,
      format: r.format as ImageFormat,
      init: r.init as string,
      stopSignal: r.stop_signal as string,
      sizeBytes: r.size_bytes as number,
      source: r.source as string,
      content: r.content as string,
      createdAt: r.created_at as string,
    };
  }

  images(): ImageRecord[] {
    const names = this.db.prepare('SELECT name FROM images ORDER BY name').pluck().all() as string[];
    return names.map((n) => this.image(n)!);
  }

  /** The image's row and its files' rows. */
  deleteImage(name: string): void {
    this.transaction(() => {
      this.db.prepare('DELETE FROM image_files WHERE image = ?').run(name);
      this.db.prepare('DELETE FROM images WHERE name = ?').run(name);
    });
  }

  imageInUse(name: string): string[] {
    return this.db.prepare('SELECT name FROM guests WHERE image = ? ORDER BY name').pluck().all(name) as string[];
  }

  /** The versions of an image's content that guests were made from. */
  imageContentsInUse(name: string): string[] {
    return this.db.prepare('SELECT DISTINCT image_content FROM guests WHERE image = ?').pluck().all(name) as string[];
  }

  /** Records a file of an image's (again: a base found unrecorded is recorded as found). */
  recordImageFile(f: ImageFileRecord): void {
    this.db
      .prepare('INSERT OR REPLACE INTO image_files (image, file, role, content, size_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(f.image, f.file, f.role, f.content, f.sizeBytes, new Date().toISOString());
  }

  /** The files of one image, or of every image. */
  imageFiles(image?: string): ImageFileRecord[] {
    const select = 'SELECT image, file, role, content, size_bytes AS sizeBytes FROM image_files';
    return (image === undefined ? this.db.prepare(`${select} ORDER BY image, file`).all() : this.db.prepare(`${select} WHERE image = ? ORDER BY file`).all(image)) as ImageFileRecord[];
  }

  deleteImageFile(image: string, file: string): void {
    this.db.prepare('DELETE FROM image_files WHERE image = ? AND file = ?').run(image, file);
  }

  // networks

  insertNetwork(n: NetworkRecord): void {
    this.db.prepare('INSERT INTO networks (name, subnet, nat, bridge, created_at) VALUES (?, ?, ?, ?, ?)').run(n.name, n.subnet, n.nat ? 1 : 0, n.bridge, n.createdAt);
  }

  network(name: string): NetworkRecord | undefined {
    const r = this.db.prepare(`${selectNetwork} WHERE name = ?`).get(name) as NetworkRow | undefined;
    return r && toNetwork(r);
  }

  networks(): NetworkRecord[] {
    return (this.db.prepare(`${selectNetwork} ORDER BY name`).all() as NetworkRow[]).map(toNetwork);
  }

  deleteNetwork(name: string): void {
    this.db.prepare('DELETE FROM networks WHERE name = ?').run(name);
  }

  insertNics(nics: readonly NicRecord[]): void {
    const insert = this.db.prepare('INSERT INTO nics (guest_id, idx, network, mac, address) VALUES (?, ?, ?, ?, ?)');
    this.db.transaction(() => nics.forEach((n) => insert.run(n.guestId, n.index, n.network, n.mac, n.address)))();
  }

  /** NICs of one guest, or of every guest on one network (with the guest's name). */
  nics(where: { guestId: number } | { network: string }): Array<NicRecord & { guest: string }> {
    const [clause, value] = 'guestId' in where ? ['nics.guest_id = ?', where.guestId] : ['nics.network = ?', where.network];
    return this.db
      .prepare(`SELECT nics.guest_id AS guestId, nics.idx AS "index", nics.network, nics.mac, nics.address, guests.name AS guest FROM nics JOIN guests ON guests.id = nics.guest_id WHERE ${clause} ORDER BY guests.name, nics.idx`)
      .all(value) as Array<NicRecord & { guest: string }>;
  }

  // storage pools and volumes

  insertPool(p: PoolRecord): void {
    this.db
      .prepare('INSERT INTO storage_pools (name, driver, source, path, file_bytes, uuid, volume_size_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(p.name, p.driver, p.source, p.path, p.fileBytes ?? null, p.uuid ?? null, p.volumeSizeBytes, p.createdAt);
  }

  pool(name: string): PoolRecord | undefined {
    const r = this.db.prepare(`${selectPool} WHERE name = ?`).get(name) as PoolRow | undefined;
    return r && toPool(r);
  }

  pools(): PoolRecord[] {
    return (this.db.prepare(`${selectPool} ORDER BY name`).all() as PoolRow[]).map(toPool);
  }

  deletePool(name: string): void {
    this.db.prepare('DELETE FROM storage_pools WHERE name = ?').run(name);
  }

  insertVolume(v: Omit<VolumeRecord, 'id' | 'createdAt'>): VolumeRecord {
    const createdAt = new Date().toISOString();
    const info = this.db
      .prepare('INSERT INTO volumes (pool, key, content, size_bytes, guest_id, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(v.pool, v.key, v.content, v.sizeBytes, v.guestId ?? null, createdAt);
    return { ...v, id: Number(info.lastInsertRowid), createdAt };
  }

  /** The root volume of a guest; none for a guest made before pools. */
  rootVolume(guestId: number): VolumeRecord | undefined {
    const r = this.db.prepare(`${selectVolume} WHERE guest_id = ?`).get(guestId) as VolumeRow | undefined;
    return r && toVolume(r);
  }

  /** Every guest's root volume, by guest id. */
  rootVolumes(): Map<number, VolumeRecord> {
    const rows = (this.db.prepare(`${selectVolume} WHERE guest_id IS NOT NULL`).all() as VolumeRow[]).map(toVolume);
    return new Map(rows.map((v) => [v.guestId!, v]));
  }

  volumes(pool: string): VolumeRecord[] {
    return (this.db.prepare(`${selectVolume} WHERE pool = ? ORDER BY key`).all(pool) as VolumeRow[]).map(toVolume);
  }

  setVolumeSize(id: number, sizeBytes: number): void {
    this.db.prepare('UPDATE volumes SET size_bytes = ? WHERE id = ?').run(sizeBytes, id);
  }

  deleteVolume(id: number): void {
    this.db.prepare('DELETE FROM volumes WHERE id = ?').run(id);
  }

  /** A volume of its own (not a guest's root), by name, in whichever pool. */
  customVolume(name: string): VolumeRecord | undefined {
    const r = this.db.prepare(`${selectVolume} WHERE key = ?`).get(`custom/${name}`) as VolumeRow | undefined;
    return r && toVolume(r);
  }

  customVolumes(): VolumeRecord[] {
    return (this.db.prepare(`${selectVolume} WHERE key LIKE 'custom/%' ORDER BY key`).all() as VolumeRow[]).map(toVolume);
  }

  insertAttachment(a: { volumeId: number; guestId: number; path?: string; device?: string; slot: number }): void {
    this.db.prepare('INSERT INTO volume_attachments (volume_id, guest_id, path, device, slot) VALUES (?, ?, ?, ?, ?)').run(a.volumeId, a.guestId, a.path ?? null, a.device ?? null, a.slot);
  }

  setKernelWritten(volumeId: number): void {
    this.db.prepare('UPDATE volumes SET kernel_written = 1 WHERE id = ?').run(volumeId);
  }

  deleteAttachment(volumeId: number): void {
    this.db.prepare('DELETE FROM volume_attachments WHERE volume_id = ?').run(volumeId);
  }

  /** Attachments of one guest (by slot), or of one volume. */
  attachments(where: { guestId: number } | { volumeId: number }): AttachmentRecord[] {
    const [clause, value] = 'guestId' in where ? ['a.guest_id = ?', where.guestId] : ['a.volume_id = ?', where.volumeId];
    const rows = this.db
      .prepare(`SELECT a.volume_id AS volumeId, a.guest_id AS guestId, g.name AS guest, a.path, a.device, a.slot FROM volume_attachments a JOIN guests g ON g.id = a.guest_id WHERE ${clause} ORDER BY a.slot`)
      .all(value) as Array<{ volumeId: number; guestId: number; guest: string; path: string | null; device: string | null; slot: number }>;
    return rows.map((r) => {
      const volume = toVolume(this.db.prepare(`${selectVolume} WHERE volumes.id = ?`).get(r.volumeId) as VolumeRow);
      return { volume, guestId: r.guestId, guest: r.guest, slot: r.slot, ...(r.path !== null ? { path: r.path } : {}), ...(r.device !== null ? { device: r.device } : {}) };
    });
  }

  // snapshots

  insertSnapshot(s: Omit<SnapshotRecord, 'id' | 'createdAt'>): SnapshotRecord {
    const createdAt = new Date().toISOString();
    const info = this.db
      .prepare('INSERT INTO snapshots (guest_id, name, stateful, guest_state, limits, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(s.guestId, s.name, s.stateful ? 1 : 0, s.guestState, JSON.stringify(s.limits), createdAt);
    return { ...s, id: Number(info.lastInsertRowid), createdAt };
  }

  /** A guest's snapshots, oldest first. */
  snapshots(guestId: number): SnapshotRecord[] {
    const rows = this.db
      .prepare('SELECT id, guest_id AS guestId, name, stateful, guest_state AS guestState, limits, created_at AS createdAt FROM snapshots WHERE guest_id = ? ORDER BY id')
      .all(guestId) as Array<Omit<SnapshotRecord, 'stateful' | 'limits'> & { stateful: number; limits: string }>;
    return rows.map((r) => ({ ...r, stateful: r.stateful === 1, limits: JSON.parse(r.limits) as Limits }));
  }

  deleteSnapshot(id: number): void {
    this.db.prepare('DELETE FROM snapshots WHERE id = ?').run(id);
  }

  // port forwards

  insertForward(f: ForwardRecord): void {
    this.db.prepare('INSERT INTO forwards (guest_id, proto, host_port, guest_port) VALUES (?, ?, ?, ?)').run(f.guestId, f.proto, f.hostPort, f.guestPort);
  }

  /** Forwards of one guest, or all of them; with the guest's name. */
  forwards(guestId?: number): Array<ForwardRecord & { guest: string }> {
    const where = guestId === undefined ? '' : 'WHERE forwards.guest_id = ?';
    return this.db
      .prepare(`SELECT forwards.guest_id AS guestId, proto, host_port AS hostPort, guest_port AS guestPort, guests.name AS guest FROM forwards JOIN guests ON guests.id = forwards.guest_id ${where} ORDER BY proto, host_port`)
      .all(...(guestId === undefined ? [] : [guestId])) as Array<ForwardRecord & { guest: string }>;
  }

  deleteForward(proto: string, hostPort: number): boolean {
    return this.db.prepare('DELETE FROM forwards WHERE proto = ? AND host_port = ?').run(proto, hostPort).changes > 0;
  }

  // operations

  saveOperation(op: Operation): void {
    this.db.prepare('INSERT OR REPLACE INTO operations (id, body, updated_at) VALUES (?, ?, ?)').run(op.id, JSON.stringify(op), op.updatedAt);
  }

  operation(id: string): Operation | undefined {
    const body = this.db.prepare('SELECT body FROM operations WHERE id = ?').pluck().get(id) as string | undefined;
    return body ? (JSON.parse(body) as Operation) : undefined;
  }

  operations(limit = 100): Operation[] {
    // a save replaces the row, so rowid orders two saved in the same millisecond
    const bodies = this.db.prepare('SELECT body FROM operations ORDER BY updated_at DESC, rowid DESC LIMIT ?').pluck().all(limit) as string[];
    return bodies.map((b) => JSON.parse(b) as Operation);
  }
}
