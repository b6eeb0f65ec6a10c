/**
 * @module A backup's manifest: what the backup holds and what it cost. It is written
 * last, after every chunk and index is durable, so a backup directory without one is
 * unfinished (gc removes it once no writer owns it).
 */
import { LodgeError } from '../../api/errors.js';

export const manifestFileName = 'manifest.json';

export interface IndexInfo {
  name: string;
  kind: 'disk' | 'tree';
  /** The index file in the backup's directory: <name>.fidx (disk) or <name>.cidx (tree catalog). */
  file: string;
  /** SHA-256 of the index file and its length. */
  sha256: string;
  indexBytes: number;
  /** Logical bytes: the disk's size, or the sum of the tree's file sizes. */
  size: number;
  /** Bytes read from the source (unchanged chunks and files are not read). */
  bytesRead: number;
  /** Bytes newly written to the store (compressed, encrypted), chunks already there excluded. */
  bytesStored: number;
  chunksNew: number;
  chunksReused: number;
  /** A tree's entry count. */
  entries?: number;
}

export interface Manifest {
  format: 'lodge-backup';
  version: 1;
  group: string;
  id: string;
  createdAt: string;
  finishedAt: string;
  indexes: IndexInfo[];
  bytesRead: number;
  bytesStored: number;
  /** Free-form, filled by the caller (the guest's settings). */
  guest: unknown;
}

const isCount = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;

/** Parses and checks a manifest; `file` names it in every error. */
export function parseManifest(text: string, file: string): Manifest {
  let m: Partial<Manifest>;
  try {
    m = JSON.parse(text) as Partial<Manifest>;
  } catch (e) {
    throw new LodgeError('BAD_REQUEST', `backup manifest ${file} is damaged (not JSON)`, { cause: e });
  }
  const bad = (what: string) => new LodgeError('BAD_REQUEST', `backup manifest ${file} is damaged: ${what}`);
  if (!m || typeof m !== 'object' || m.format !== 'lodge-backup') throw bad('format is not "lodge-backup"');
  if (m.version !== 1) throw new LodgeError('UNSUPPORTED', `backup manifest ${file} has version ${String(m.version)}, this Lodge reads version 1`);
  if (typeof m.group !== 'string' || typeof m.id !== 'string') throw bad('group or id is missing');
  if (!isCount(m.bytesRead) || !isCount(m.bytesStored)) throw bad('bytesRead or bytesStored is not a count');
  if (!Array.isArray(m.indexes)) throw bad('indexes is not a list');
  for (const [i, x] of m.indexes.entries()) {
    if (!x || typeof x !== 'object' || typeof x.name !== 'string' || (x.kind !== 'disk' && x.kind !== 'tree')) throw bad(`indexes[${i}] has no name or kind`);
    if (x.file !== `${x.name}.${x.kind === 'disk' ? 'fidx' : 'cidx'}` || !/^[0-9a-f]{64}$/.test(x.sha256)) throw bad(`indexes[${i}] names no valid file or sha256`);
    for (const f of ['indexBytes', 'size', 'bytesRead', 'bytesStored', 'chunksNew', 'chunksReused'] as const) if (!isCount(x[f])) throw bad(`indexes[${i}].${f} is not a count`);
  }
  return m as Manifest;
}
