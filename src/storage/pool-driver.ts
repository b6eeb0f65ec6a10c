/**
 * @module What a storage pool's backend does: make its storage, and volumes in it, each
 * a directory of its own with a size that the backend enforces. Core keeps the rows
 * (which pools, which volumes, whose); a backend keeps the bytes and never reads the
 * database. A volume's directory holds what its user makes in it: a container's upper
 * layer, a UML COW file, a qcow2 overlay. A volume's snapshots are read-only copies of a
 * point in time, kept in the pool under snapshots/KEY/NAME, out of every engine's reach.
 */
import { existsSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import path from 'node:path';
import type { PoolDriverName, VolumeContent } from '../api/storage.js';

export interface VolumeSpec {
  /** Where in the pool: `guests/ID` for a guest's root, `custom/NAME` for a volume of its own. */
  key: string;
  /**
   * filesystem: files written straight into the directory (a container's root), held to
   * sizeBytes by the pool; block: disk files an engine writes (qcow2, COW), which hold
   * themselves to the disk's size, the pool holding them to that and a little more.
   */
  content: VolumeContent;
  sizeBytes: number;
}

export interface PoolUsage {
  totalBytes: number;
  usedBytes: number;
}

export interface PoolDriver {
  readonly name: PoolDriverName;
  /** The pool's directory: volumes are below it. */
  readonly root: string;
  /** Makes the pool's storage (formats its file or device) and activates it. Undone by destroy. */
  create(): Promise<void>;
  /** Makes a pool usable after lodged or the host started again (mounts it); cheap when it is. */
  activate(): Promise<void>;
  /** Removes the pool's storage; it holds no volume any more. */
  destroy(): Promise<void>;
  usage(): Promise<PoolUsage>;
  /** Makes the volume and returns its directory. Undone by deleteVolume. */
  createVolume(volume: VolumeSpec): Promise<string>;
  /** Makes a volume usable after a restart (mounts it) and returns its directory. */
  activateVolume(volume: VolumeSpec): Promise<string>;
  /** Holds a block volume to a size learnt once its disk is made (the disk's own size). */
  limitBlockVolume(volume: VolumeSpec): Promise<void>;
  /** Bytes the volume's contents take in the pool. */
  volumeUsage(volume: VolumeSpec): Promise<number>;
  /** Removes the volume, its snapshots and what they hold; safe on a half-made or missing one. */
  deleteVolume(volume: VolumeSpec): Promise<void>;
  /**
   * Keeps what the volume holds now as its snapshot `name`: by reference in an instant where
   * the pool can, a copy otherwise. Whoever writes the volume is paused by the caller meanwhile.
   */
  snapshotVolume(volume: VolumeSpec, name: string, signal?: AbortSignal): Promise<void>;
  /**
   * Puts the snapshot's content back as the volume's (no one uses the volume meanwhile). The
   * volume is replaced whole, by rename: a restore cut short leaves the volume as it was.
   */
  restoreVolume(volume: VolumeSpec, name: string, signal?: AbortSignal): Promise<void>;
  /**
   * Replaces what the volume holds by what `fill` writes into an empty volume of its size (no
   * one uses the volume meanwhile), whole, by rename: a fill that fails or is cut short
   * leaves the volume as it was.
   */
  refillVolume(volume: VolumeSpec, fill: (dir: string) => Promise<void>): Promise<void>;
  /** Removes a snapshot; safe on a half-made or missing one. */
  deleteVolumeSnapshot(volume: VolumeSpec, name: string): Promise<void>;
  /** A directory of root's with the snapshot's files in it, to read (a backup's); closeSnapshot gives it up. */
  openSnapshot(volume: VolumeSpec, name: string): Promise<string>;
  closeSnapshot(volume: VolumeSpec, name: string): Promise<void>;
  /** The names of the volume's snapshots the pool holds, whole or not (a start's sweep compares them with the rows). */
  volumeSnapshots(volume: VolumeSpec): Promise<string[]>;
  /** Bytes the snapshot takes that the volume does not share with it (what deleting it frees, as near as the pool can tell). */
  snapshotUsage(volume: VolumeSpec, name: string): Promise<number>;
  /**
   * Makes the new volume `to` as a copy of `from` as it is now (its writer paused by the
   * caller) or of its snapshot `snapshot`: by reference where the pool can. Undone by
   * deleteVolume(to). Returns its directory.
   */
  copyVolume(from: VolumeSpec, snapshot: string | undefined, to: VolumeSpec, signal?: AbortSignal): Promise<string>;
}

/** Block volumes: room beyond the disk's own size for the disk format's metadata (qcow2 tables, a COW bitmap). */
export function blockVolumeAllowance(sizeBytes: number): number {
  return sizeBytes + Math.ceil(sizeBytes / 64) + 64 * 1024 * 1024;
}

export function volumeDir(root: string, volume: Pick<VolumeSpec, 'key'>): string {
  return path.join(root, volume.key);
}

/** Where a volume's snapshots are. */
export function snapshotsDir(root: string, volume: Pick<VolumeSpec, 'key'>): string {
  return path.join(root, 'snapshots', volume.key);
}

/** What a volume is replaced by, made beside it, and the volume it replaces, kept until the new one is in place. */
const incoming = (target: string) => `${target}.restoring`;
const outgoing = (target: string) => `${target}.replaced`;

/**
 * Replaces `target` (a directory or subvolume) by what `make(path)` makes beside it, in two
 * renames; `remove` deletes what was there. A crash between the renames is mended by
 * recoverReplace, so the target is always whole: the old one or the new one.
 */
export async function replaceWhole(target: string, make: (path: string) => Promise<void>, remove: (path: string) => Promise<void>): Promise<void> {
  await remove(incoming(target));
  await make(incoming(target));
  await rename(target, outgoing(target));
  await rename(incoming(target), target);
  await remove(outgoing(target));
}

/** After a crash in replaceWhole: the old target back if the new one never got in place, and what is left over gone. */
export async function recoverReplace(target: string, remove: (path: string) => Promise<void>): Promise<void> {
  if (!existsSync(target) && existsSync(outgoing(target))) await rename(outgoing(target), target);
  for (const p of [incoming(target), outgoing(target)]) if (existsSync(p)) await remove(p);
}
