/**
 * @module A new guest's name in its own /etc/hostname, and its name server in
 * /etc/resolv.conf, written into its writable layer before it first starts: its overlay
 * is mounted only where it runs. The image's /etc must be a real directory, which the
 * upper layer's /etc then mirrors in mode and owner (the guest's root). Files are opened
 * with O_NOFOLLOW in a fresh layer, so a link in the image (Debian's resolv.conf may be
 * one) is shadowed, never followed.
 */
import { constants } from 'node:fs';
import { chmod, lchown, lstat, mkdir, open, rm } from 'node:fs/promises';
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
    const file = await openRegular(path.join(etc, name));
    try {
      await file.writeFile(text);
      await file.chown(image.uid, image.gid);
    } finally {
      await file.close();
    }
  }
}

/**
 * Opens `file` to be written whole. A guest that ran wrote its layer (it is stopped now): what it
 * left there may be a FIFO (an open for writing would wait for a reader for ever) or a device
 * node (a privileged container may make one: opening it would reach the host's device). Anything
 * but a regular file is removed first, unopened.
 */
async function openRegular(file: string) {
  const found = await lstat(file).catch(() => undefined);
  if (found && !found.isFile()) await rm(file, { force: true });
  return open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
}

export const hostnameFile = (name: string) => ({ hostname: `${name}\n` });

export const resolvConfFile = (nameserver: string, domain: string) => ({ 'resolv.conf': `nameserver ${nameserver}\nsearch ${domain}\n` });
