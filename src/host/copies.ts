/**
 * @module Copies of files and trees on the host, as the storage layer makes them for
 * snapshots and clones: sparse (holes stay holes), by reference where the filesystem can
 * (reflink), with owners, modes, times and extended attributes kept, links copied as
 * links and never followed.
 */
import { run } from '../lib/exec.js';

/** A disk's copy can take long: an hour before it counts as hung. */
const copyTimeoutMs = 3_600_000;

/** Copies a file or a directory and all it holds to `dest`, which must not exist. */
export async function copyTree(source: string, dest: string, signal?: AbortSignal): Promise<void> {
  await run(['cp', '--archive', '--no-target-directory', '--sparse=always', '--reflink=auto', source, dest], { timeoutMs: copyTimeoutMs, ...(signal ? { signal } : {}) });
}

/** Writes what the filesystem holding `dir` has in memory to its device (a loop file's copy then has it). */
export async function syncFilesystem(dir: string): Promise<void> {
  await run(['sync', '--file-system', dir], { timeoutMs: 300_000 });
}
