/**
 * @module Disk image files on the host: a sparse ext4 file of a fixed size, mounted
 * through a loop device (which the kernel frees again when it is unmounted).
 */
import { run } from '../lib/exec.js';

export async function makeExt4File(file: string, bytes: number): Promise<void> {
  await run(['truncate', '-s', String(bytes), file]);
  // no blocks reserved for root: a guest's root should be able to use the whole size
  await run(['mkfs.ext4', '-q', '-m', '0', '-F', file], { timeoutMs: 300_000 });
}

export async function mountLoop(file: string, target: string): Promise<void> {
  await run(['mount', '-o', 'loop', file, target]);
}
