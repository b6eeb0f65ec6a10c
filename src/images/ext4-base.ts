/**
 * @module An image's rootfs as an ext4 file (the root disk of pv guests) or as a qcow2
 * disk holding that ext4 (vm guests). `mkfs.ext4 -d` fills it from the directory: no loop
 * mount, no root in a namespace. Made through derived.ts, which names it and puts it in place.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../lib/exec.js';
import { resolveInRoot } from './in-root.js';

const mib = 1024 * 1024;

/**
 * Writes the ext4 file `target` from `rootfs`. `additions` maps paths in the guest to host
 * directories copied in as well (a kernel's modules).
 */
export async function makeExt4(rootfs: string, additions: Record<string, string>, target: string): Promise<void> {
  const staging = `${target}.staging`;
  try {
    let source = rootfs;
    if (Object.keys(additions).length > 0) {
      await run(['cp', '-a', '--reflink=auto', rootfs, staging], { timeoutMs: 600_000 });
      for (const [inGuest, fromHost] of Object.entries(additions)) {
        // the image's own links are followed as in the guest (an absolute lib -> / must not lead to the host's /)
        const into = await resolveInRoot(staging, inGuest);
        await mkdir(into, { recursive: true });
        // what the image has under the names copied in is replaced, never written through
        for (const entry of await readdir(fromHost)) await rm(path.join(into, entry), { recursive: true, force: true });
        await run(['cp', '-a', '--reflink=auto', `${fromHost}/.`, into], { timeoutMs: 600_000 });
      }
      source = staging;
    }
    const used = Number((await run(['du', '-sb', source])).stdout.split('\t')[0]);
    // room for the filesystem's own metadata and for what guests write through their COW files
    const size = Math.ceil((used * 1.3 + 256 * mib) / mib) * mib;
    await run(['truncate', '-s', String(size), target]);
    await run(['mkfs.ext4', '-q', '-F', '-L', 'lodge-root', '-d', source, target], { timeoutMs: 600_000 });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Writes the qcow2 disk `target` holding `rootfs` as ext4. */
export async function makeQcow2(rootfs: string, target: string): Promise<void> {
  const raw = `${target}.raw`;
  try {
    await makeExt4(rootfs, {}, raw);
    await run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, target], { timeoutMs: 600_000 });
  } finally {
    await rm(raw, { force: true });
  }
}
