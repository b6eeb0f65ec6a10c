/**
 * @module A new guest's name in its own /etc/hostname, and its name server in
 * /etc/resolv.conf, written into its writable layer before it first starts: its overlay
 * is mounted only where it runs. The image's /etc must be a real directory, which the
 * upper layer's /etc then mirrors in mode and owner (the guest's root). Files are opened
 * with O_NOFOLLOW in a fresh layer, so a link in the image (Debian's resolv.conf may be
 * one) is shadowed, never followed.
 */
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { chmod, lchown, lstat, mkdir, open, unlink } from 'node:fs/promises';
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
    const file = await openGuestFile(path.join(etc, name));
    try {
      await file.truncate(0);
      await file.writeFile(text);
      await file.chown(image.uid, image.gid);
    } finally {
      await file.close();
    }
  }
}

/**
 * Opens a file the guest may have written (a rename rewrites its hostname in a used layer)
 * for writing without trusting what is there: O_NONBLOCK so a FIFO cannot hang lodged, and
 * anything but a regular file is unlinked and made anew with O_EXCL.
 */
async function openGuestFile(file: string): Promise<FileHandle> {
  const found = await open(file, constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY).catch(
    (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      if (e.code === 'ELOOP' || e.code === 'ENXIO' || e.code === 'EISDIR') return null; // a link, a FIFO without reader, a directory
      throw e;
    },
  );
  if (found) {
    if ((await found.stat()).isFile()) return found;
    await found.close();
  }
  if (found !== undefined) await unlink(file); // a directory stays and fails here, with its name
  return open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
}

export const hostnameFile = (name: string) => ({ hostname: `${name}\n` });

export const resolvConfFile = (nameserver: string, domain: string) => ({ 'resolv.conf': `nameserver ${nameserver}\nsearch ${domain}\n` });
