/**
 * @module What a storage pool's backend does: make its storage, and volumes in it, each
 * a directory of its own with a size that the backend enforces. Core keeps the rows
 * (which pools, which volumes, whose); a backend keeps the bytes and never reads the
 * database. A volume's directory holds what its user makes in it: a container's upper
 * layer, a UML COW file, a qcow2 overlay.
 */
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
  /** Removes the volume and what it holds; safe on a half-made or missing one. */
  deleteVolume(volume: VolumeSpec): Promise<void>;
}

/** Block volumes: room beyond the disk's own size for the disk format's metadata (qcow2 tables, a COW bitmap). */
export function blockVolumeAllowance(sizeBytes: number): number {
  return sizeBytes + Math.ceil(sizeBytes / 64) + 64 * 1024 * 1024;
}

export function volumeDir(root: string, volume: Pick<VolumeSpec, 'key'>): string {
  return path.join(root, volume.key);
}
