/**
 * @module The `dir` pool: volumes are directories under a directory of the host. A
 * filesystem volume is an ext4 file of its size mounted on its directory (so the limit
 * is the filesystem's, and a guest that fills it gets ENOSPC); a block volume is a plain
 * directory, its disk files holding themselves to their size. Snapshots and clones are
 * sparse copies (by reference where the host's filesystem has reflinks): of the ext4 file
 * for a filesystem volume, of the directory for a block one.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, rename, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { copyTree, syncFilesystem } from '../host/copies.js';
import { makeExt4File, mountLoop } from '../host/disks.js';
import { isMounted, unmount } from '../host/mounts.js';
import { run } from '../lib/exec.js';
import { recoverReplace, replaceWhole, snapshotsDir, volumeDir, type PoolDriver, type PoolUsage, type VolumeSpec } from './pool-driver.js';

const removeTree = (p: string) => rm(p, { recursive: true, force: true });

export class DirPool implements PoolDriver {
  readonly name = 'dir' as const;
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  async create(): Promise<void> {
    await this.activate();
  }

  async activate(): Promise<void> {
    for (const d of [this.root, path.join(this.root, 'guests'), path.join(this.root, 'custom')]) {
      await mkdir(d, { recursive: true });
      // engines run as users of their own and pass through to their volume
      await chmod(d, 0o711);
    }
    // snapshots are root's alone
    await mkdir(path.join(this.root, 'snapshots'), { recursive: true, mode: 0o700 });
    await chmod(path.join(this.root, 'snapshots'), 0o700);
  }

  async destroy(): Promise<void> {
    for (const d of ['guests', 'custom', 'snapshots']) await rm(path.join(this.root, d), { recursive: true, force: true });
    // the directory itself may be the administrator's (a --source); only what Lodge made in it goes
    await run(['rmdir', this.root], { allowFailure: true });
  }

  async usage(): Promise<PoolUsage> {
    const s = await statfs(this.root);
    return { totalBytes: s.blocks * s.bsize, usedBytes: (s.blocks - s.bfree) * s.bsize };
  }

  private diskFile(volume: VolumeSpec): string {
    return `${volumeDir(this.root, volume)}.ext4`;
  }

  /** A snapshot: the ext4 file of a filesystem volume, the directory of a block one. */
  private snapshotPath(volume: VolumeSpec, name: string): string {
    return path.join(snapshotsDir(this.root, volume), volume.content === 'filesystem' ? `${name}.ext4` : name);
  }

  /** What a volume's content is: its ext4 file (written through first, for a copy to have it), or its directory. */
  private async content(volume: VolumeSpec): Promise<string> {
    if (volume.content === 'block') return volumeDir(this.root, volume);
    if (await isMounted(volumeDir(this.root, volume))) await syncFilesystem(volumeDir(this.root, volume));
    return this.diskFile(volume);
  }

  /** Copies a volume's content to `dest` under a temporary name, renamed when whole. */
  private async copyContent(source: string, dest: string, signal?: AbortSignal): Promise<void> {
    const making = `${dest}.making`;
    await removeTree(making);
    await copyTree(source, making, signal);
    await rename(making, dest);
  }

  async createVolume(volume: VolumeSpec): Promise<string> {
    const dir = volumeDir(this.root, volume);
    await mkdir(dir, { recursive: true });
    if (volume.content === 'filesystem' && !existsSync(this.diskFile(volume))) await makeExt4File(this.diskFile(volume), volume.sizeBytes);
    await this.activateVolume(volume);
    // its user's files are reached by name, never listed by others
    await chmod(dir, 0o711);
    return dir;
  }

  async activateVolume(volume: VolumeSpec): Promise<string> {
    const dir = volumeDir(this.root, volume);
    // a restore or a refill cut short: the volume as it was
    if (volume.content === 'filesystem' && existsSync(this.fillMount(volume))) {
      await unmount(this.fillMount(volume));
      await removeTree(this.fillMount(volume));
    }
    await recoverReplace(volume.content === 'filesystem' ? this.diskFile(volume) : dir, removeTree);
    if (!existsSync(dir)) throw new Error(`${volume.key} is missing from its dir pool (${dir})`);
    if (volume.content === 'filesystem' && !(await isMounted(dir))) await mountLoop(this.diskFile(volume), dir);
    return dir;
  }

  async limitBlockVolume(): Promise<void> {
    // a disk file on a plain directory holds itself to its size
  }

  async volumeUsage(volume: VolumeSpec): Promise<number> {
    const dir = volumeDir(this.root, volume);
    if (volume.content === 'filesystem') {
      if (!(await isMounted(dir))) return 0;
      const s = await statfs(dir);
      return (s.blocks - s.bfree) * s.bsize;
    }
    const { stdout } = await run(['du', '-sB1', dir], { allowFailure: true });
    return Number(stdout.split('\t')[0]) || 0;
  }

  async deleteVolume(volume: VolumeSpec): Promise<void> {
    const dir = volumeDir(this.root, volume);
    await unmount(dir);
    // and what a copy into it cut short left beside it
    for (const p of [dir, `${dir}.making`, this.diskFile(volume), `${this.diskFile(volume)}.making`]) await removeTree(p);
    // a snapshot being read (a backup's) is mounted: unmounted first, so that only the copy goes
    for (const name of await this.volumeSnapshots(volume)) await this.closeSnapshot(volume, name);
    await removeTree(snapshotsDir(this.root, volume));
  }

  async snapshotVolume(volume: VolumeSpec, name: string, signal?: AbortSignal): Promise<void> {
    await mkdir(snapshotsDir(this.root, volume), { recursive: true, mode: 0o700 });
    await this.copyContent(await this.content(volume), this.snapshotPath(volume, name), signal);
  }

  async restoreVolume(volume: VolumeSpec, name: string, signal?: AbortSignal): Promise<void> {
    const snapshot = this.snapshotPath(volume, name);
    if (!existsSync(snapshot)) throw new Error(`snapshot ${name} of ${volume.key} is missing from its dir pool (${snapshot})`);
    const dir = volumeDir(this.root, volume);
    if (volume.content === 'filesystem') {
      await unmount(dir);
      await replaceWhole(this.diskFile(volume), (p) => copyTree(snapshot, p, signal), removeTree);
      await mountLoop(this.diskFile(volume), dir);
    } else {
      await replaceWhole(dir, (p) => copyTree(snapshot, p, signal), removeTree);
    }
  }

  /** Where a filesystem volume's new ext4 file is mounted while it is filled. */
  private fillMount(volume: VolumeSpec): string {
    return `${volumeDir(this.root, volume)}.restoring`;
  }

  async refillVolume(volume: VolumeSpec, fill: (dir: string) => Promise<void>): Promise<void> {
    const dir = volumeDir(this.root, volume);
    if (volume.content === 'block') {
      return replaceWhole(
        dir,
        async (p) => {
          await mkdir(p, { mode: 0o711 });
          await fill(p);
        },
        removeTree,
      );
    }
    const mount = this.fillMount(volume);
    await replaceWhole(
      this.diskFile(volume),
      async (p) => {
        await makeExt4File(p, volume.sizeBytes);
        await mkdir(mount, { recursive: true, mode: 0o700 });
        await mountLoop(p, mount);
        try {
          await chmod(mount, 0o711);
          await fill(mount);
        } finally {
          await unmount(mount);
          await removeTree(mount);
        }
      },
      removeTree,
    );
    await unmount(dir);
    await mountLoop(this.diskFile(volume), dir);
  }

  /** Where a filesystem volume's snapshot is mounted to be read. */
  private snapshotMount(volume: VolumeSpec, name: string): string {
    return path.join(snapshotsDir(this.root, volume), `${name}.mnt`);
  }

  async openSnapshot(volume: VolumeSpec, name: string): Promise<string> {
    if (volume.content === 'block') return this.snapshotPath(volume, name);
    const mount = this.snapshotMount(volume, name);
    await mkdir(mount, { recursive: true, mode: 0o700 });
    // read-write: the copy of a mounted ext4 has a journal to replay; no one else has this copy
    if (!(await isMounted(mount))) await mountLoop(this.snapshotPath(volume, name), mount);
    return mount;
  }

  async closeSnapshot(volume: VolumeSpec, name: string): Promise<void> {
    const mount = this.snapshotMount(volume, name);
    await unmount(mount);
    await removeTree(mount);
  }

  async deleteVolumeSnapshot(volume: VolumeSpec, name: string): Promise<void> {
    await this.closeSnapshot(volume, name);
    const p = this.snapshotPath(volume, name);
    for (const q of [p, `${p}.making`]) await removeTree(q);
  }

  async volumeSnapshots(volume: VolumeSpec): Promise<string[]> {
    const entries = await readdir(snapshotsDir(this.root, volume)).catch(() => []);
    return [...new Set(entries.map((e) => e.replace(/\.(making|mnt)$/, '').replace(/\.ext4$/, '')))];
  }

  async snapshotUsage(volume: VolumeSpec, name: string): Promise<number> {
    const { stdout } = await run(['du', '-sB1', this.snapshotPath(volume, name)], { allowFailure: true });
    return Number(stdout.split('\t')[0]) || 0;
  }

  async copyVolume(from: VolumeSpec, snapshot: string | undefined, to: VolumeSpec, signal?: AbortSignal): Promise<string> {
    const source = snapshot === undefined ? await this.content(from) : this.snapshotPath(from, snapshot);
    const dir = volumeDir(this.root, to);
    if (to.content === 'filesystem') {
      await this.copyContent(source, this.diskFile(to), signal);
      await mkdir(dir, { recursive: true });
    } else {
      await this.copyContent(source, dir, signal);
    }
    return this.createVolume(to);
  }
}
