/**
 * @module A new guest's name in its own /etc/hostname, and its name server in
 * /etc/resolv.conf, written from the host before the guest first starts. The root
 * filesystem may come from an imported image, so nothing is followed: /etc must be a real
 * directory and the file is opened with O_NOFOLLOW.
 */
import { constants } from 'node:fs';
import { lstat, open, unlink } from 'node:fs/promises';
import path from 'node:path';

async function writeEtcFile(rootfs: string, name: string, text: string, owner: number): Promise<void> {
  const etc = path.join(rootfs, 'etc');
  const st = await lstat(etc).catch(() => undefined);
  if (!st?.isDirectory()) return; // no /etc (or a link): the guest goes without
  // a symbolic link in its place (Debian's resolv.conf may be one) is replaced, never followed
  if ((await lstat(path.join(etc, name)).catch(() => undefined))?.isSymbolicLink()) await unlink(path.join(etc, name));
  const file = await open(path.join(etc, name), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
  try {
    await file.writeFile(text);
    await file.chown(owner, owner);
  } finally {
    await file.close();
  }
}

export function writeHostname(rootfs: string, name: string, owner: number): Promise<void> {
  return writeEtcFile(rootfs, 'hostname', `${name}\n`, owner);
}

export function writeResolvConf(rootfs: string, nameserver: string, domain: string, owner: number): Promise<void> {
  return writeEtcFile(rootfs, 'resolv.conf', `nameserver ${nameserver}\nsearch ${domain}\n`, owner);
}
