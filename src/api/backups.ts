/**
 * @module The wire types of backups: stores that Lodge owns (a directory: local disk, NFS,
 * a USB disk), deduplicated chunks in them, and each guest's backups, restored into new
 * guests and checked by re-reading every chunk.
 */
import { Type, type Static } from '@sinclair/typebox';
import { GuestKind, Name, namePattern, StringEnum } from './common.js';
import { FileMode } from './files.js';
import { GuestOptions, Limits } from './guests.js';

export const BackupStoresPost = Type.Object(
  {
    name: Type.String({ pattern: namePattern, maxLength: 63 }),
    path: Type.String({ pattern: '^/[^\\u0000]*$', maxLength: 4096, description: 'an absolute directory: a new or empty one is made a store, one that holds a store already is added' }),
    encrypt: Type.Optional(Type.Boolean({ description: 'a new store: encrypt every chunk (AES-256-GCM) with a key made now and answered once; keep it: the store is useless without it' })),
    key: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$', description: "an encrypted store's key (64 hex digits): for a store that exists, or a new one with a key of your own" })),
  },
  { additionalProperties: false },
);
export type BackupStoresPost = Static<typeof BackupStoresPost>;

export const BackupStore = Type.Object({
  name: Type.String(),
  path: Type.String(),
  encrypted: Type.Boolean(),
  /** Answered once, when lodged made the key. */
  key: Type.Optional(Type.String({ description: "the key of a store just made encrypted, answered this once: keep it away from this host" })),
  createdAt: Type.String(),
});
export type BackupStore = Static<typeof BackupStore>;
export const BackupStoreList = Type.Array(BackupStore);

/** What a backup says of its guest: enough to make it again. */
export const BackupGuest = Type.Object({
  name: Name,
  kind: GuestKind,
  image: Type.String(),
  imageContent: Type.String({ description: 'the version of the image content its root was written over' }),
  limits: Limits,
  options: GuestOptions,
  networks: Type.Array(Type.String()),
  rootSizeBytes: Type.Integer({ minimum: 64 * 1024 * 1024, maximum: 2 ** 44 }),
});
export type BackupGuest = Static<typeof BackupGuest>;

export const Backup = Type.Object({
  store: Type.String(),
  guest: Type.String(),
  id: Type.String({ description: 'its time, sortable: 2026-12-02T07-30-00.000Z' }),
  finished: Type.Boolean({ description: 'false: being written, or cut short (gc removes it)' }),
  createdAt: Type.Optional(Type.String()),
  sizeBytes: Type.Optional(Type.Integer({ description: 'what it holds' })),
  readBytes: Type.Optional(Type.Integer({ description: 'what making it read (unchanged files of the previous backup are not read)' })),
  storedBytes: Type.Optional(Type.Integer({ description: 'what it added to the store (the rest it shares with earlier backups, of any guest)' })),
  settings: Type.Optional(BackupGuest),
});
export type Backup = Static<typeof Backup>;
export const BackupList = Type.Array(Backup);

export const BackupParams = Type.Object({ store: Name, guest: Name, id: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}-\\d{2}-\\d{2}\\.\\d{3}Z$' }) });
export type BackupParams = Static<typeof BackupParams>;
export const StoreParams = Type.Object({ store: Name });
export type StoreParams = Static<typeof StoreParams>;

export const BackupsQuery = Type.Object({ guest: Type.Optional(Name) }, { additionalProperties: false });
export type BackupsQuery = Static<typeof BackupsQuery>;

export const GuestBackupsPost = Type.Object(
  { store: Type.Optional(Type.String({ pattern: namePattern, description: 'the backup store (default: the only one)' })) },
  { additionalProperties: false },
);
export type GuestBackupsPost = Static<typeof GuestBackupsPost>;

export const BackupRestorePost = Type.Object(
  {
    name: Type.Optional(Type.String({ pattern: namePattern, description: 'the new guest (default: the backed-up guest\'s name, if no guest has it)' })),
    start: Type.Optional(Type.Boolean({ default: false })),
    privileged: Type.Optional(Type.Boolean({ description: "an imported archive of a privileged container is made one only when this says so" })),
    over: Type.Optional(Type.Boolean({ description: 'put the backup back over the existing stopped guest `name` instead of making a new one: its root volume is replaced whole, its settings stay' })),
  },
  { additionalProperties: false },
);
export type BackupRestorePost = Static<typeof BackupRestorePost>;

/** A path in a backed-up guest's filesystem, as the guest saw it (lodged refuses '.' and '..' in it). */
export const BackupFilePath = Type.String({ pattern: '^/[^\\u0000]*$', maxLength: 4095, description: 'an absolute path as the guest saw it' });

export const BackupFilesQuery = Type.Object(
  { path: Type.Array(BackupFilePath, { minItems: 1, maxItems: 256, description: 'the files and directories to take (a directory with all it holds)' }) },
  { additionalProperties: false },
);
export type BackupFilesQuery = Static<typeof BackupFilesQuery>;

export const BackupFilesListQuery = Type.Object({ path: Type.Optional({ ...BackupFilePath, description: 'the directory to list (default /), or a file' }) }, { additionalProperties: false });
export type BackupFilesListQuery = Static<typeof BackupFilesListQuery>;

/** One entry of a directory of a backup, as the guest saw it. */
export const BackupFileEntry = Type.Object({
  name: Type.String(),
  type: StringEnum(['file', 'dir', 'symlink', 'chardev', 'blockdev', 'fifo', 'socket'] as const),
  mode: FileMode,
  uid: Type.Integer({ description: "the guest's own user id" }),
  gid: Type.Integer({ description: "the guest's own group id" }),
  sizeBytes: Type.Integer(),
  modifiedAt: Type.Optional(Type.String({ description: 'absent where the filesystem is read through debugfs, whose listing has no times' })),
  target: Type.Optional(Type.String({ description: "a symbolic link's target" })),
});
export type BackupFileEntry = Static<typeof BackupFileEntry>;

export const BackupFileList = Type.Object({
  path: Type.String(),
  entries: Type.Array(BackupFileEntry, { description: 'a directory\'s entries, by name; a file: itself' }),
  incomplete: Type.Optional(Type.String({ description: 'what this host could not read of the backup, and why' })),
});
export type BackupFileList = Static<typeof BackupFileList>;

/** The header of a files download that says what this host could not read of the backup. */
export const backupFilesIncompleteHeader = 'x-lodge-incomplete';

export const BackupPrunePost = Type.Object(
  {
    guest: Name,
    keepLast: Type.Optional(Type.Integer({ minimum: 0 })),
    keepDaily: Type.Optional(Type.Integer({ minimum: 0 })),
    keepWeekly: Type.Optional(Type.Integer({ minimum: 0 })),
    dryRun: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type BackupPrunePost = Static<typeof BackupPrunePost>;

export const BackupPruneResult = Type.Object({ kept: Type.Array(Type.String()), removed: Type.Array(Type.String()) });
export type BackupPruneResult = Static<typeof BackupPruneResult>;

export const BackupVerifyResult = Type.Object({
  ok: Type.Boolean(),
  backups: Type.Integer(),
  chunks: Type.Integer(),
  damaged: Type.Array(Type.Object({ chunk: Type.String(), error: Type.String(), backups: Type.Array(Type.String()) })),
  broken: Type.Array(Type.Object({ backup: Type.String(), why: Type.String() })),
});
export type BackupVerifyResult = Static<typeof BackupVerifyResult>;

export const BackupGcResult = Type.Object({
  removedChunks: Type.Integer(),
  removedBytes: Type.Integer(),
  removedUnfinished: Type.Array(Type.String()),
  missingChunks: Type.Array(Type.String()),
});
export type BackupGcResult = Static<typeof BackupGcResult>;
