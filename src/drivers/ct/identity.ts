/**
 * @module A new guest's name in its own /etc/hostname, and its name server in
 * /etc/resolv.conf, written into its writable layer before it first starts: its overlay
 * is mounted only where it runs. The image's /etc must be a real directory, which the
 * upper layer's /etc then mirrors in mode and owner (the guest's root). Files are opened
 * with O_NOFOLLOW in a fresh layer, so a link in the image (Debian's resolv.conf may be
 * one) is shadowed, never followed.
 */
import { constants } from 'node:fs';
import { chmod, lchown, lstat, mkdir, open } from 'node:fs/promises';
import path from 'node:path';

export async function writeEtcFiles(lower: string, upper: string, files: Record<string, string>): Promise<void> {
  const image = await lstat(path.join(lower, 'etc')).catch(() => undefined);
  if (!image?.isDirectory()) return; // no /etc (or a link): the guest goes without
  const etc = path.join(upper, 'etc');
  await mkdir(etc).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  if (!(await lstat(etc)).isDirectory()) return;
  await chmod(etc, image.mode & 0o7777);
  await lchown(etc, image.uid, image.gid);
  for (const [name, text] of Object.entries(files)) {
    const file = await open(path.join(etc, name), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
    try {
      await file.writeFile(text);
      await file.chown(image.uid, image.gid);
    } finally {
      await file.close();
    }
  }
}

export const hostnameFile = (name: string) => ({ hostname: `${name}\n` });

export const resolvConfFile = (nameserver: string, domain: string) => ({ 'resolv.conf': `nameserver ${nameserver}\nsearch ${domain}\n` });
