/**
 * @module Mounts on the host: overlay roots for guests, whether a directory is mounted
 * on, and unmounting.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../lib/exec.js';

export async function mountOverlay(lowers: readonly string[], upper: string, work: string, target: string): Promise<void> {
  // index=off and metacopy=off keep the lower layer shareable by many guests at once
  const options = `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work},index=off,metacopy=off`;
  await run(['mount', '-t', 'overlay', 'overlay', '-o', options, target]);
}

export async function unmount(target: string): Promise<void> {
  if (await isMounted(target)) await run(['umount', '--lazy', target]);
}

/**
 * Whether something is mounted on `target`: its device differs from its parent's. One stat
 * each, not a read of /proc/self/mountinfo, which the kernel renders line by line with one
 * long overlay line per guest (at two thousand guests, milliseconds of kernel time per read).
 * Lodge mounts only filesystems of their own device here (overlay, ext4 on a loop device).
 */
export async function isMounted(target: string): Promise<boolean> {
  try {
    const [own, parent] = await Promise.all([stat(target), stat(path.dirname(target))]);
    return own.dev !== parent.dev;
  } catch {
    return false;
  }
}
