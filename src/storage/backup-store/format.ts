/**
 * @module The on-disk layout of a backup store and its config file. A store is a
 * directory (local disk, NFS, a USB disk):
 *
 *   lodge-backup-store.json   format version, chunk parameters, encryption (a key fingerprint, never the key)
 *   chunks/abcd/<id>          one file per chunk, named by its 64-hex id, fanned out by its first 4 hex digits
 *   backups/<group>/<id>/     one backup: index files (<name>.fidx, <name>.cidx), then manifest.json, written last
 *   locks/                    who writes (one record per backup writer) and who sweeps (gc, prune)
 *
 * Names avoid ':' so that a store on a FAT/exFAT USB disk works.
 */
import path from 'node:path';
import { LodgeError } from '../../api/errors.js';

export const configFileName = 'lodge-backup-store.json';
export const storeFormat = 'lodge-backup-store';
export const storeVersion = 1;

export interface ChunkParameters {
  /** Fixed chunk size of disk images (PBS's .fidx uses 4 MiB). */
  fixedSize: number;
  /** Content-defined chunking of file trees: minimum, average and maximum chunk size. */
  cdcMin: number;
  cdcAvg: number;
  cdcMax: number;
  /** Hex digits of a chunk id that name its directory under chunks/. */
  dirDigits: number;
  compression: 'zstd';
  level: number;
}

export interface EncryptionInfo {
  cipher: 'aes-256-gcm';
  /** Chunk ids are HMAC-SHA256 under a key derived from the master key, so they leak no plaintext hash. */
  ids: 'hmac-sha256';
  kdf: 'hkdf-sha256';
  /** Tells a right key from a wrong one (derived, so it reveals nothing of the key). */
  fingerprint: string;
}

export interface StoreConfig {
  format: typeof storeFormat;
  version: number;
  createdAt: string;
  chunks: ChunkParameters;
  encryption: EncryptionInfo | null;
}

export const defaultChunkParameters: ChunkParameters = {
  fixedSize: 4 * 1024 * 1024,
  cdcMin: 512 * 1024,
  cdcAvg: 1024 * 1024,
  cdcMax: 8 * 1024 * 1024,
  dirDigits: 4,
  compression: 'zstd',
  level: 3,
};

/** The largest chunk any store may hold: a chunk file's header keeps its length in 32 bits, and readers allocate it. */
export const maxChunkBytes = 64 * 1024 * 1024;

const isPow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

/** Parses and checks a store's config; `file` names it in every error. */
export function parseConfig(text: string, file: string): StoreConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new LodgeError('BAD_REQUEST', `${file} is not a backup store config (not JSON)`, { cause: e });
  }
  const c = raw as Partial<StoreConfig> | null;
  if (!c || typeof c !== 'object' || c.format !== storeFormat) throw new LodgeError('BAD_REQUEST', `${file} is not a backup store config (format is not "${storeFormat}")`);
  if (c.version !== storeVersion) throw new LodgeError('UNSUPPORTED', `${file}: backup store format version ${String(c.version)} is not supported (this Lodge reads version ${storeVersion})`);
  const k = c.chunks;
  if (!k || typeof k !== 'object') throw new LodgeError('BAD_REQUEST', `${file}: chunks is missing`);
  for (const f of ['fixedSize', 'cdcMin', 'cdcAvg', 'cdcMax'] as const) {
    if (!isPow2(k[f]) || k[f] > maxChunkBytes) throw new LodgeError('BAD_REQUEST', `${file}: chunks.${f} must be a power of two up to ${maxChunkBytes}`);
  }
  if (!(k.cdcMin < k.cdcAvg && k.cdcAvg < k.cdcMax)) throw new LodgeError('BAD_REQUEST', `${file}: chunks.cdcMin < cdcAvg < cdcMax does not hold`);
  if (k.dirDigits !== 2 && k.dirDigits !== 4) throw new LodgeError('BAD_REQUEST', `${file}: chunks.dirDigits must be 2 or 4`);
  if (k.compression !== 'zstd' || !Number.isInteger(k.level)) throw new LodgeError('BAD_REQUEST', `${file}: chunks.compression must be zstd with an integer level`);
  const e = c.encryption;
  if (e !== null) {
    if (!e || e.cipher !== 'aes-256-gcm' || e.ids !== 'hmac-sha256' || e.kdf !== 'hkdf-sha256' || !/^[0-9a-f]{32,64}$/.test(String(e.fingerprint))) {
      throw new LodgeError('BAD_REQUEST', `${file}: encryption is not understood`);
    }
  }
  return c as StoreConfig;
}

const groupPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const idPattern = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z$/;
const indexNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkGroup(group: string): string {
  if (!groupPattern.test(group)) throw new LodgeError('BAD_REQUEST', `backup group "${group}" must be letters, digits, '.', '_' or '-' (at most 128)`);
  return group;
}

export function checkBackupId(id: string): string {
  if (!idPattern.test(id)) throw new LodgeError('BAD_REQUEST', `backup id "${id}" is not of the form YYYY-MM-DDTHH-MM-SS.mmmZ`);
  return id;
}

export function checkIndexName(name: string): string {
  if (!indexNamePattern.test(name)) throw new LodgeError('BAD_REQUEST', `index name "${name}" must be letters, digits, '.', '_' or '-'`);
  return name;
}

/** A backup's id from its time: sortable as text, and free of ':'. */
export function backupIdOf(ms: number): string {
  return new Date(ms).toISOString().replace(/:/g, '-');
}

/** The time a backup id names. */
export function timeOfBackupId(id: string): number {
  const iso = id.replace(/^(\d{4}-\d{2}-\d{2}T)(\d{2})-(\d{2})-(\d{2})/, '$1$2:$3:$4');
  return Date.parse(iso);
}

export const paths = {
  config: (root: string) => path.join(root, configFileName),
  chunks: (root: string) => path.join(root, 'chunks'),
  backups: (root: string) => path.join(root, 'backups'),
  group: (root: string, group: string) => path.join(root, 'backups', group),
  backup: (root: string, group: string, id: string) => path.join(root, 'backups', group, id),
  locks: (root: string) => path.join(root, 'locks'),
};
