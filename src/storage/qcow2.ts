/**
 * @module qcow2 disks of vm guests: per guest an overlay whose backing file is its image's
 * read-only base (images/derived.ts makes it), so launching ten guests of one image copies
 * nothing, and empty disks.
 */
import { run } from '../lib/exec.js';

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

/**
 * A qcow2 disk at `out` that reads as the raw disk `raw`, holding only the clusters where
 * `raw` differs from `base` (qemu-img rebase compares the two: it writes where they differ).
 */
export async function qcow2OverBase(raw: string, out: string, base: { file: string; format: 'qcow2' | 'raw' } | undefined, signal?: AbortSignal): Promise<void> {
  // they read the whole disk (twice, for a rebase): a large one takes long
  const options = { timeoutMs: 6 * 3600_000, ...(signal ? { signal } : {}) };
  if (!base) {
    await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, out], options);
    return;
  }
  await run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', raw, out], options);
  await run(['qemu-img', 'rebase', '-q', '-f', 'qcow2', '-F', base.format, '-b', base.file, out], options);
}
