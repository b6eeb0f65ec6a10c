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

export async function createOverlay(base: string, overlay: string, sizeBytes?: number): Promise<void> {
  await run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, overlay, ...(sizeBytes ? [String(sizeBytes)] : [])]);
}
