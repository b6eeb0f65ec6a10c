/**
 * @module An image's rootfs as a read-only ext4 file, made once and shared by every
 * paravirtual guest of that image (each guest writes only to its own COW file over it).
 * `mkfs.ext4 -d` fills it from the directory: no loop mount, no root in a namespace.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../lib/exec.js';
import { resolveInRoot } from './in-root.js';

const mib = 1024 * 1024;

/**
 * Returns the base file `target`, making it (atomically, by rename) when
 * it is missing. `additions` maps paths in the guest to host directories copied in as
 * well (a kernel's modules).
 */
export async function ensureExt4Base(rootfs: string, additions: Record<string, string>, target: string): Promise<string> {
  if (existsSync(target)) return target;
  const tmp = `${target}.tmp-${process.pid}`;
  const staging = `${target}.staging-${process.pid}`;
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
    await run(['truncate', '-s', String(size), tmp]);
    await run(['mkfs.ext4', '-q', '-F', '-L', 'lodge-root', '-d', source, tmp], { timeoutMs: 600_000 });
    // guests' UML runs as an unprivileged user: the base is theirs to read, never to write
    await chmod(tmp, 0o444);
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return target;
}
