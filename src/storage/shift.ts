/**
 * @module A copy of an image's rootfs with every owner moved up by a user-namespace
 * offset, made once per image and map and then shared by every unprivileged guest of
 * that image (the kernel here cannot idmap an overlay's lower layer).
 */
import { existsSync } from 'node:fs';
import { chmod, lchown, lstat, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../lib/exec.js';

function shiftedPath(rootfs: string, offset: number): string {
  return `${rootfs}.shifted-${offset}`;
}

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

/** Returns the shifted copy, making it (atomically, by rename) when it is missing. */
export async function ensureShifted(rootfs: string, offset: number): Promise<string> {
  const target = shiftedPath(rootfs, offset);
  if (existsSync(target)) return target;
  const tmp = `${target}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  try {
    await run(['cp', '-a', '--reflink=auto', rootfs, tmp], { timeoutMs: 600_000 });
    await shiftTree(tmp, offset);
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return target;
}
