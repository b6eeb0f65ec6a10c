/**
 * @module qcow2 disks of vm guests: one read-only base per image (its rootfs as ext4, in
 * qcow2), and per guest an overlay whose backing file is that base, so launching ten
 * guests of one image copies nothing.
 */
import { existsSync } from 'node:fs';
import { chmod, rename, rm } from 'node:fs/promises';
import { run } from '../lib/exec.js';
import { ensureExt4Base } from './ext4-base.js';

/** ROOTFS.qcow2, made from the rootfs when it is missing. */
export async function ensureQcow2Base(rootfs: string): Promise<string> {
  const target = `${rootfs}.qcow2`;
  if (existsSync(target)) return target;
  // a raw ext4 of its own: the pv base may be held (locked) by running UML guests
  const raw = await ensureExt4Base(rootfs, {}, `${rootfs}.vm-raw-${process.pid}`);
  const tmp = `${target}.tmp-${process.pid}`;
  try {
    await run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, tmp], { timeoutMs: 600_000 });
    await chmod(tmp, 0o444);
    await rename(tmp, target);
  } finally {
    await rm(raw, { force: true });
    await rm(tmp, { force: true });
  }
  return target;
}

/** The size of the disk a guest sees (not the file's size on the host). */
export async function virtualSize(file: string, format: 'qcow2' | 'raw'): Promise<number> {
  // -U: the base is open read-only in running guests
  const { stdout } = await run(['qemu-img', 'info', '-U', '--output=json', '-f', format, file]);
  return (JSON.parse(stdout) as { 'virtual-size': number })['virtual-size'];
}

/** An overlay of `base`, as large as the base or `sizeBytes` (which may grow it, never shrink it). */
export async function createOverlay(base: string, overlay: string, options: { sizeBytes?: number; baseFormat: 'qcow2' | 'raw' }): Promise<void> {
  await run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', options.baseFormat, '-b', base, overlay, ...(options.sizeBytes ? [String(options.sizeBytes)] : [])]);
}

/** An empty qcow2 disk: it takes host space only as the guest writes. */
export async function createDisk(file: string, sizeBytes: number): Promise<void> {
  await run(['qemu-img', 'create', '-q', '-f', 'qcow2', file, String(sizeBytes)]);
}
