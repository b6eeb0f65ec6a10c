/**
 * @module A volume of its own: an ext4 filesystem on a raw disk file in the volume's
 * directory, so that every kind can use it. A pv or vm guest gets the file as a disk; a
 * container gets the filesystem, mounted on the host through a loop device beside the
 * file and bound into the container at its path.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { makeExt4File, mountLoop } from '../host/disks.js';
import { isMounted, unmount } from '../host/mounts.js';

export const diskVolumeFile = (dir: string) => path.join(dir, 'disk.raw');
export const diskVolumeMount = (dir: string) => path.join(dir, 'mnt');

export async function makeDiskVolume(dir: string, bytes: number): Promise<void> {
  await makeExt4File(diskVolumeFile(dir), bytes);
}

/** Mounts the volume's filesystem beside its file (once) and returns where. */
export async function mountDiskVolume(dir: string): Promise<string> {
  const target = diskVolumeMount(dir);
  await mkdir(target, { recursive: true, mode: 0o700 });
  if (!(await isMounted(target))) await mountLoop(diskVolumeFile(dir), target);
  return target;
}

export async function unmountDiskVolume(dir: string): Promise<void> {
  await unmount(diskVolumeMount(dir));
}
