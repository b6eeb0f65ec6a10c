/**
 * @module A new guest's name in its own /etc/hostname, written from the host before the
 * guest first starts. The root filesystem may come from an imported image, so nothing is
 * followed: /etc must be a real directory and the file is opened with O_NOFOLLOW.
 */
import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import path from 'node:path';

export async function writeHostname(rootfs: string, name: string, owner: number): Promise<void> {
  const etc = path.join(rootfs, 'etc');
  const st = await lstat(etc).catch(() => undefined);
  if (!st?.isDirectory()) return; // no /etc (or a link): the runtime's hostname is all it gets
  const file = await open(path.join(etc, 'hostname'), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
  try {
    await file.writeFile(`${name}\n`);
    await file.chown(owner, owner);
  } finally {
    await file.close();
  }
}
