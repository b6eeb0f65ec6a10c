/**
 * @module A copy of an image's rootfs with every owner moved up by a user-namespace
 * offset, the lower layer of unprivileged containers (the kernel here cannot idmap an
 * overlay's lower layer). Made through derived.ts, which names it and puts it in place.
 */
import { chmod, lchown, lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../lib/exec.js';

async function shiftTree(dir: string, offset: number): Promise<void> {
  const st = await lstat(dir);
  await lchown(dir, st.uid + offset, st.gid + offset);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await shiftTree(p, offset);
    else {
      const s = await lstat(p);
      await lchown(p, s.uid + offset, s.gid + offset);
      // chown clears setuid and setgid bits: put them back (su, passwd and the like need them)
      if (entry.isFile() && s.mode & 0o6000) await chmod(p, s.mode & 0o7777);
    }
  }
}

/** Copies `rootfs` to `target` (which must not exist) with its owners moved up by `offset` (0: a plain copy). */
export async function makeShifted(rootfs: string, offset: number, target: string): Promise<void> {
  await run(['cp', '-a', '--reflink=auto', rootfs, target], { timeoutMs: 600_000 });
  if (offset !== 0) await shiftTree(target, offset);
}
