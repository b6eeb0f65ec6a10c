/**
 * @module A volume of its own: an ext4 filesystem on a raw disk file in the volume's
 * directory, so that every kind can use it. A pv or vm guest gets the file as a disk (its
 * engine owns the file while it has it, root again after); a container gets the
 * filesystem, mounted on the host through a loop device below a directory only root can
 * enter, and bound into the container at its path.
 */
import { chmod, lchown, mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { makeExt4File, mountLoop, unmountNow } from '../host/disks.js';
import { isMounted } from '../host/mounts.js';

export const diskVolumeFile = (dir: string) => path.join(dir, 'disk.raw');
const hostOnly = (dir: string) => path.join(dir, 'host');
export const diskVolumeMount = (dir: string) => path.join(hostOnly(dir), 'mnt');

/** Made under another name and renamed when whole: a volume whose disk file is there is ready. */
export async function makeDiskVolume(dir: string, bytes: number): Promise<void> {
  const making = `${diskVolumeFile(dir)}.making`;
  await makeExt4File(making, bytes);
  await rename(making, diskVolumeFile(dir));
}

/** Mounts the volume's filesystem (once) and returns where. */
export async function mountDiskVolume(dir: string): Promise<string> {
  const target = diskVolumeMount(dir);
  await mkdir(target, { recursive: true });
  await chmod(hostOnly(dir), 0o700);
  if (!(await isMounted(target))) await mountLoop(diskVolumeFile(dir), target);
  return target;
}

/** Unmounts it; fails when something still holds it (then it stays attached). */
export async function unmountDiskVolume(dir: string): Promise<void> {
  if (await isMounted(diskVolumeMount(dir))) await unmountNow(diskVolumeMount(dir));
}

/** The file is root's again, and no one else's: a guest that had it keeps nothing of it. */
export async function releaseDiskVolume(dir: string): Promise<void> {
  await lchown(diskVolumeFile(dir), 0, 0);
  await chmod(diskVolumeFile(dir), 0o600);
}
