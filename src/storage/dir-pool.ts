/**
 * @module The `dir` pool: volumes are directories under a directory of the host. A
 * filesystem volume is an ext4 file of its size mounted on its directory (so the limit
 * is the filesystem's, and a guest that fills it gets ENOSPC); a block volume is a plain
 * directory, its disk files holding themselves to their size.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { makeExt4File, mountLoop } from '../host/disks.js';
import { isMounted, unmount } from '../host/mounts.js';
import { run } from '../lib/exec.js';
import { volumeDir, type PoolDriver, type PoolUsage, type VolumeSpec } from './pool-driver.js';

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
  }

  async destroy(): Promise<void> {
    for (const d of ['guests', 'custom']) await rm(path.join(this.root, d), { recursive: true, force: true });
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
    await rm(dir, { recursive: true, force: true });
    await rm(this.diskFile(volume), { force: true });
  }
}
