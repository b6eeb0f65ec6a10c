/**
 * @module Disk image files on the host: a sparse ext4 file of a fixed size, root's alone,
 * mounted through a loop device (which the kernel frees again when it is unmounted)
 * without set-id programs or device files: what a guest wrote there is never a way in.
 */
import { chmod } from 'node:fs/promises';
import { run } from '../lib/exec.js';

export async function makeExt4File(file: string, bytes: number): Promise<void> {
  await run(['truncate', '-s', String(bytes), file]);
  await chmod(file, 0o600);
  // no blocks reserved for root: a guest's root should be able to use the whole size
  await run(['mkfs.ext4', '-q', '-m', '0', '-F', file], { timeoutMs: 300_000 });
}

export async function mountLoop(file: string, target: string): Promise<void> {
  await run(['mount', '-o', 'loop,nosuid,nodev', file, target]);
}

/** Unmounts at once, or fails when something holds the filesystem (unlike a lazy unmount, which hides it). */
export async function unmountNow(target: string): Promise<void> {
  await run(['umount', target]);
}
