/**
 * @module Mounts: the options of a guest's overlay root, whether a directory is mounted
 * on, and unmounting.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../lib/exec.js';

export function overlayOptions(lowers: readonly string[], upper: string, work: string): string {
  // index=off and metacopy=off keep the lower layer shareable by many guests at once; with
  // redirect_dir=off (some kernels default to on) a renamed directory is copied whole into the
  // upper layer instead of pointing at the lower one by an xattr no backup can carry
  return `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work},index=off,metacopy=off,redirect_dir=off`;
}

export async function unmount(target: string): Promise<void> {
  if (await isMounted(target)) await run(['umount', '--lazy', target]);
}

/**
 * Whether something is mounted on `target`: its device differs from its parent's. One stat
 * each, not a read of /proc/self/mountinfo, which the kernel renders line by line with one
 * long line per mount. Lodge mounts only filesystems of their own device here (ext4 on a
 * loop device).
 */
export async function isMounted(target: string): Promise<boolean> {
  try {
    const [own, parent] = await Promise.all([stat(target), stat(path.dirname(target))]);
    return own.dev !== parent.dev;
  } catch {
    return false;
  }
}
