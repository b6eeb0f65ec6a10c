/**
 * @module An image's rootfs as a read-only ext4 file, made once and shared by every
 * paravirtual guest of that image (each guest writes only to its own COW file over it).
 * `mkfs.ext4 -d` fills it from the directory: no loop mount, no root in a namespace.
 */
import { existsSync } from 'node:fs';
import { chmod, rename, rm } from 'node:fs/promises';
import { run } from '../lib/exec.js';

const mib = 1024 * 1024;

export function ext4BasePath(rootfs: string): string {
  return `${rootfs}.ext4`;
}

/** Returns the base file, making it (atomically, by rename) when it is missing. */
export async function ensureExt4Base(rootfs: string): Promise<string> {
  const target = ext4BasePath(rootfs);
  if (existsSync(target)) return target;
  const used = Number((await run(['du', '-sb', rootfs])).stdout.split('\t')[0]);
  // room for the filesystem's own metadata and for what guests write through their COW files
  const size = Math.ceil((used * 1.3 + 256 * mib) / mib) * mib;
  const tmp = `${target}.tmp-${process.pid}`;
  try {
    await run(['truncate', '-s', String(size), tmp]);
    await run(['mkfs.ext4', '-q', '-F', '-L', 'lodge-root', '-d', rootfs, tmp], { timeoutMs: 600_000 });
    // guests' UML runs as an unprivileged user: the base is theirs to read, never to write
    await chmod(tmp, 0o444);
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return target;
}
