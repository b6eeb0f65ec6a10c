/**
 * @module btrfs on the host, through btrfs-progs: a filesystem made on a device or a
 * sparse file, its quota groups, and subvolumes with a size limit each.
 */
import { readFile } from 'node:fs/promises';
import { run } from '../lib/exec.js';

const missing = 'install the Debian package btrfs-progs';

async function btrfs(args: string[]): Promise<string> {
  try {
    return (await run(['btrfs', ...args], { timeoutMs: 120_000 })).stdout;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`btrfs is missing: ${missing}`);
    throw e;
  }
}

/**
 * Makes a btrfs filesystem on `source` (a block device, or a file). mkfs refuses a device
 * that holds a filesystem already: Lodge never wipes one.
 */
export async function makeBtrfs(source: string, label: string): Promise<void> {
  try {
    await run(['mkfs.btrfs', '-q', '-L', label, source], { timeoutMs: 300_000 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`mkfs.btrfs is missing: ${missing}`);
    throw e;
  }
}

/** The UUID of the filesystem on a device. */
export async function filesystemUuid(device: string): Promise<string> {
  const uuid = (await run(['blkid', '-o', 'value', '-s', 'UUID', device])).stdout.trim();
  if (!/^[0-9a-f-]{36}$/.test(uuid)) throw new Error(`${device} has no filesystem UUID after mkfs.btrfs`);
  return uuid;
}

/** Mounts it (a file through a loop device, which the kernel frees at unmount) and turns quota groups on. */
export async function mountBtrfs(source: string, target: string, loop: boolean): Promise<void> {
  // discard: space freed inside goes back to the host, as holes in a loop file; nosuid, nodev: what a
  // guest (or a restored archive) made there is never a set-id program or a device for the host
  await run(['mount', '-t', 'btrfs', '-o', `${loop ? 'loop,' : ''}discard=async,nosuid,nodev`, source, target]);
  await btrfs(['quota', 'enable', target]);
}

export async function createSubvolume(target: string): Promise<void> {
  await btrfs(['subvolume', 'create', target]);
}

/** A snapshot of a subvolume, made by reference in an instant: read-only, or a writable clone. */
export async function snapshotSubvolume(source: string, target: string, options: { readOnly: boolean }): Promise<void> {
  await btrfs(['subvolume', 'snapshot', ...(options.readOnly ? ['-r'] : []), source, target]);
}

/** Its quota group's id, 0/N: what a subvolume's limit and usage are kept under. */
async function qgroupOf(target: string): Promise<string> {
  return `0/${(await btrfs(['inspect-internal', 'rootid', target])).trim()}`;
}

/** Limits what the subvolume may hold (shared extents count too): writes past it fail with EDQUOT. */
export async function limitSubvolume(target: string, bytes: number): Promise<void> {
  await btrfs(['qgroup', 'limit', String(bytes), target]);
}

/**
 * Bytes the subvolume refers to, as its quota group counts them, or only those no other
 * subvolume shares (what deleting it frees: a snapshot's own cost).
 */
export async function subvolumeUsage(target: string, which: 'referenced' | 'exclusive' = 'referenced'): Promise<number> {
  const qgroup = await qgroupOf(target);
  const line = (await btrfs(['qgroup', 'show', '--raw', '-f', target])).split('\n').find((l) => l.startsWith(`${qgroup} `));
  return Number(line?.trim().split(/\s+/)[which === 'referenced' ? 1 : 2] ?? 0);
}

/** Deletes the subvolume and, once the filesystem lets it, its quota group. */
export async function deleteSubvolume(target: string, mountpoint: string): Promise<void> {
  const qgroup = await qgroupOf(target);
  await btrfs(['subvolume', 'delete', '--commit-after', target]);
  // a quota group whose subvolume is not yet cleaned up stays until the next start's sweep
  await run(['btrfs', 'qgroup', 'destroy', qgroup, mountpoint], { allowFailure: true });
}

/** Whether this kernel has btrfs (built in or as a loaded module). */
export async function kernelHasBtrfs(): Promise<boolean> {
  return /\bbtrfs\b/.test(await readFile('/proc/filesystems', 'utf8').catch(() => ''));
}
