/**
 * @module Where images live on disk: one directory per image holding its content (its
 * rootfs, or its one disk or ISO file) and, beside it, the bases made from it for guests
 * (derived.ts) and earlier versions of the content, which stay while guests made from them
 * exist. Names map to directories one to one (imageDirName), and the staging directories
 * end in "+new" and "+old", which no image name can.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { LodgeError } from '../api/errors.js';
import type { ImageFormat } from '../api/images.js';
import { sweepTemporaries } from './derived.js';

export class ImageFiles {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  /** The directory of one image (see imageDirName). */
  imageDir(name: string): string {
    return path.join(this.dir, imageDirName(name));
  }

  rootfs(name: string): string {
    return path.join(this.imageDir(name), 'rootfs');
  }

  /** The disk or ISO file of an image kept in that format. */
  file(name: string, format: Exclude<ImageFormat, 'rootfs'>): string {
    return path.join(this.imageDir(name), imageFileName(format));
  }

  /** Its content: the rootfs, or the disk or ISO file. */
  content(name: string, format: ImageFormat): string {
    return format === 'rootfs' ? this.rootfs(name) : this.file(name, format);
  }

  /** A fresh, empty staging directory for an image being made (its rootfs or file goes inside); renamed into place when done. */
  async staging(name: string): Promise<string> {
    if ((await lstat(this.imageDir(name)).catch(() => undefined))?.isSymbolicLink()) {
      throw new LodgeError('CONFLICT', `name: ${name}'s directory (${this.imageDir(name)}) is where an image of another name was kept before, and its guests still reach their base through it; delete that image first`);
    }
    const dir = `${this.imageDir(name)}+new`;
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** The directory an image is swapped out to while its new version goes in. */
  replaced(name: string): string {
    return `${this.imageDir(name)}+old`;
  }

  /**
   * At start, with the names of the images recorded: moves the directories that the old
   * mapping ("/" and "_" both became "_") gave names with "_" to where they go now, and
   * removes staging directories that a crash left behind (those of older versions, ending
   * in ".new" or ".old", only when no image owns that name). Returns what it did, to log.
   */
  async prepare(names: readonly string[]): Promise<string[]> {
    await mkdir(this.dir, { recursive: true });
    const done: string[] = [];
    const legacy = (name: string) => name.replace('/', '_');
    for (const name of names.filter((n) => n.includes('_'))) {
      const from = path.join(this.dir, legacy(name));
      const sharing = names.filter((n) => n !== name && legacy(n) === legacy(name));
      if (existsSync(this.imageDir(name)) || !existsSync(from)) continue;
      if (sharing.length > 0) {
        done.push(`image ${name}: left where it is (${from}), it is shared with image ${sharing.join(', ')}; delete both and import them again`);
        continue;
      }
      await rename(from, this.imageDir(name));
      // guests made before hold the old path (a vm overlay's backing file, a pv COW header): it leads to the same place
      await symlink(imageDirName(name), from);
      done.push(`image ${name}: moved ${from} to ${this.imageDir(name)} (the old name is a link to it)`);
    }
    const owned = new Set(names.map(imageDirName));
    for (const entry of await readdir(this.dir)) {
      const stale = entry.endsWith('+new') || entry.endsWith('+old') || ((entry.endsWith('.new') || entry.endsWith('.old')) && !owned.has(entry));
      if (stale) await rm(path.join(this.dir, entry), { recursive: true, force: true });
    }
    return done;
  }

  async remove(name: string): Promise<void> {
    await rm(this.imageDir(name), { recursive: true, force: true });
    // the link that prepare left at its old name, if any
    const legacy = path.join(this.dir, name.replace('/', '_'));
    if ((await readlink(legacy).catch(() => undefined)) === imageDirName(name)) await rm(legacy, { force: true });
  }

  /** Where the content of an earlier version of an image waits while guests made from it exist. */
  version(name: string, format: ImageFormat, content: string): string {
    return `${this.content(name, format)}.version-${content}`;
  }

  /**
   * Puts the new version of an image's content, `staged` (in the staging directory), in
   * place of the one there (`old`), whose bases stay. The old content moves aside to its
   * version's name first, then `commit` records the new version and the old one (given where
   * it went, if it was there). A crash before the commit is undone by recover.
   */
  async replace(name: string, staged: string, old: { format: ImageFormat; content: string }, commit: (aside: string | undefined) => void): Promise<void> {
    const entry = path.join(this.imageDir(name), path.basename(staged));
    const aside = this.version(name, old.format, old.content);
    await rename(staged, `${entry}+new`);
    const moved = await rename(this.content(name, old.format), aside).then(
      () => true,
      (e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
        return false;
      },
    );
    await rename(`${entry}+new`, entry);
    commit(moved ? aside : undefined);
  }

  /**
   * At start, with the version of its content that an image has on record: undoes a
   * replace that a crash stopped before the new version was recorded (the recorded one,
   * aside, goes back in place), and removes what a crash left half-made (a new version, a
   * base). Returns what it did, to log.
   */
  async recover(name: string, format: ImageFormat, content: string): Promise<string[]> {
    const dir = this.imageDir(name);
    const entry = this.content(name, format);
    const aside = this.version(name, format, content);
    const done: string[] = [];
    if (existsSync(aside)) {
      await rm(entry, { recursive: true, force: true });
      await rename(aside, entry);
      done.push(`image ${name}: a new version was being put in place when lodged stopped; the one before is back`);
    }
    for (const e of (await readdir(dir).catch(() => [])).filter((e) => e.endsWith('+new'))) await rm(path.join(dir, e), { recursive: true, force: true });
    for (const e of await sweepTemporaries(dir)) done.push(`image ${name}: ${e}`);
    return done;
  }
}

/** A new version of an image's content: the id its bases are named by. */
export const newContentId = (): string => randomBytes(6).toString('hex');

/**
 * The directory name of an image: "_" doubles and "/" becomes "_", so "debian/12" stays
 * "debian_12" as before, "x_y" is "x__y", and no two names share a directory: runs of "_"
 * are even but for the one that ends where the "/" was (a name's parts cannot start with "_").
 */
export const imageDirName = (name: string): string => name.replaceAll('_', '__').replace('/', '_');

export const imageFileName = (format: Exclude<ImageFormat, 'rootfs'>) => (format === 'iso' ? 'image.iso' : `disk.${format}`);
