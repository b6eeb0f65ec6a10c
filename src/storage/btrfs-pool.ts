/**
 * @module The `btrfs` pool: one btrfs filesystem, on a block device or on a sparse file
 * that Lodge makes (as LXD's default install does), mounted on the pool's directory.
 * Every volume is a subvolume with a quota group limit: made in milliseconds, snapshotted
 * and cloned by reference, and a guest that writes past its size gets EDQUOT. A snapshot
 * is a read-only snapshot of the volume's subvolume; a restore or a clone, a writable one.
 */
import { chmod, lstat, mkdir, readdir, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { createSubvolume, deleteSubvolume, filesystemUuid, limitSubvolume, makeBtrfs, mountBtrfs, snapshotSubvolume, subvolumeUsage } from '../host/btrfs.js';
import { isMounted, unmount } from '../host/mounts.js';
import { run } from '../lib/exec.js';
import { blockVolumeAllowance, recoverReplace, replaceWhole, snapshotsDir, volumeDir, type PoolDriver, type PoolUsage, type VolumeSpec } from './pool-driver.js';

export interface BtrfsSource {
  /** A block device, or the file that Lodge makes. */
  path: string;
  /** A device's filesystem, found by it (device names change between boots): recorded once it is made. */
  uuid?: string;
  /** For a file: its size (sparse: it takes host space only as volumes fill). */
  fileBytes?: number;
}

export class BtrfsPool implements PoolDriver {
  readonly name = 'btrfs' as const;
  readonly root: string;
  private readonly source: BtrfsSource;
  private readonly label: string;

  constructor(root: string, source: BtrfsSource, label: string) {
    this.root = root;
    this.source = source;
    this.label = label;
  }

  /** A device's filesystem UUID, once made: the pool's record keeps it. */
  get uuid(): string | undefined {
    return this.source.uuid;
  }

  private get loop(): boolean {
    return this.source.fileBytes !== undefined;
  }

  async create(): Promise<void> {
    if (this.loop) {
      // what a lodged killed while making a pool of this name left is not a pool: made anew
      await unmount(this.root);
      await rm(this.source.path, { force: true });
      await mkdir(path.dirname(this.source.path), { recursive: true });
      await run(['truncate', '-s', String(this.source.fileBytes), this.source.path]);
    }
    try {
      await makeBtrfs(this.source.path, this.label);
      if (!this.loop) this.source.uuid = await filesystemUuid(this.source.path);
      await this.activate();
    } catch (e) {
      if (this.loop) await rm(this.source.path, { force: true });
      throw e;
    }
  }

  async activate(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    if (!(await isMounted(this.root))) await mountBtrfs(this.source.uuid ? `UUID=${this.source.uuid}` : this.source.path, this.root, this.loop);
    for (const d of [this.root, path.join(this.root, 'guests'), path.join(this.root, 'custom')]) {
      await mkdir(d, { recursive: true });
      await chmod(d, 0o711);
    }
    // snapshots are root's alone
    await mkdir(path.join(this.root, 'snapshots'), { recursive: true, mode: 0o700 });
    await chmod(path.join(this.root, 'snapshots'), 0o700);
  }

  async destroy(): Promise<void> {
    await unmount(this.root);
    await rm(this.root, { recursive: true, force: true });
    if (this.loop) await rm(this.source.path, { force: true });
  }

  async usage(): Promise<PoolUsage> {
    const s = await statfs(this.root);
    return { totalBytes: s.blocks * s.bsize, usedBytes: (s.blocks - s.bfree) * s.bsize };
  }

  async createVolume(volume: VolumeSpec): Promise<string> {
    const dir = volumeDir(this.root, volume);
    await createSubvolume(dir);
    await this.settle(volume, dir);
    return dir;
  }

  /** A volume's subvolume, new or a writable snapshot: its mode, and its limit (a block volume whose disk is not made yet gets it once the disk's size is known). */
  private async settle(volume: VolumeSpec, dir: string): Promise<void> {
    // its user's files are reached by name, never listed by others
    await chmod(dir, 0o711);
    if (volume.sizeBytes > 0) await limitSubvolume(dir, volume.content === 'block' ? blockVolumeAllowance(volume.sizeBytes) : volume.sizeBytes);
  }

  private readonly removeSubvolume = async (dir: string): Promise<void> => {
    const st = await lstat(dir).catch(() => undefined);
    if (!st) return;
    // a subvolume's root directory is inode 256; a plain directory (a half-made volume) is removed as one
    if (st.ino === 256) await deleteSubvolume(dir, this.root);
    else await rm(dir, { recursive: true, force: true });
  };

  async activateVolume(volume: VolumeSpec): Promise<string> {
    await this.activate();
    const dir = volumeDir(this.root, volume);
    // a restore cut short: the volume as it was
    await recoverReplace(dir, this.removeSubvolume);
    // a volume that is gone is not made again as a plain directory without a quota
    if ((await lstat(dir).catch(() => undefined))?.ino !== 256) throw new Error(`${volume.key} is missing from its btrfs pool (${dir})`);
    return dir;
  }

  async limitBlockVolume(volume: VolumeSpec): Promise<void> {
    await limitSubvolume(volumeDir(this.root, volume), blockVolumeAllowance(volume.sizeBytes));
  }

  volumeUsage(volume: VolumeSpec): Promise<number> {
    return subvolumeUsage(volumeDir(this.root, volume)).catch(() => 0);
  }

  async deleteVolume(volume: VolumeSpec): Promise<void> {
    for (const name of await this.volumeSnapshots(volume)) await this.deleteVolumeSnapshot(volume, name);
    await rm(snapshotsDir(this.root, volume), { recursive: true, force: true });
    await this.removeSubvolume(volumeDir(this.root, volume));
  }

  private snapshotPath(volume: VolumeSpec, name: string): string {
    return path.join(snapshotsDir(this.root, volume), name);
  }

  async snapshotVolume(volume: VolumeSpec, name: string): Promise<void> {
    await mkdir(snapshotsDir(this.root, volume), { recursive: true, mode: 0o700 });
    // atomic: there whole, or not at all
    await snapshotSubvolume(volumeDir(this.root, volume), this.snapshotPath(volume, name), { readOnly: true });
  }

  async restoreVolume(volume: VolumeSpec, name: string): Promise<void> {
    const snapshot = this.snapshotPath(volume, name);
    if ((await lstat(snapshot).catch(() => undefined))?.ino !== 256) throw new Error(`snapshot ${name} of ${volume.key} is missing from its btrfs pool (${snapshot})`);
    await replaceWhole(
      volumeDir(this.root, volume),
      async (p) => {
        await snapshotSubvolume(snapshot, p, { readOnly: false });
        await this.settle(volume, p);
      },
      this.removeSubvolume,
    );
  }

  async refillVolume(volume: VolumeSpec, fill: (dir: string) => Promise<void>): Promise<void> {
    await replaceWhole(
      volumeDir(this.root, volume),
      async (p) => {
        await createSubvolume(p);
        await this.settle(volume, p);
        await fill(p);
      },
      this.removeSubvolume,
    );
  }

  async openSnapshot(volume: VolumeSpec, name: string): Promise<string> {
    return this.snapshotPath(volume, name);
  }

  async closeSnapshot(): Promise<void> {
    // a read-only subvolume is read where it is
  }

  deleteVolumeSnapshot(volume: VolumeSpec, name: string): Promise<void> {
    return this.removeSubvolume(this.snapshotPath(volume, name));
  }

  volumeSnapshots(volume: VolumeSpec): Promise<string[]> {
    return readdir(snapshotsDir(this.root, volume)).catch(() => []);
  }

  snapshotUsage(volume: VolumeSpec, name: string): Promise<number> {
    return subvolumeUsage(this.snapshotPath(volume, name), 'exclusive').catch(() => 0);
  }

  async copyVolume(from: VolumeSpec, snapshot: string | undefined, to: VolumeSpec): Promise<string> {
    const dir = volumeDir(this.root, to);
    await snapshotSubvolume(snapshot === undefined ? volumeDir(this.root, from) : this.snapshotPath(from, snapshot), dir, { readOnly: false });
    await this.settle(to, dir);
    return dir;
  }
}
