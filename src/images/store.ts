/**
 * @module Where images live on disk: one directory per image holding its canonical
 * rootfs (and, beside it, the shifted copies that storage/shift.ts makes), or its one
 * disk or ISO file. Names map to directories one to one (imageDirName), and the staging
 * directories end in "+new" and "+old", which no image name can.
 */
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { LodgeError } from '../api/errors.js';
import type { ImageFormat } from '../api/images.js';
import { run } from '../lib/exec.js';

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

  async sizeBytes(name: string): Promise<number> {
    const { stdout } = await run(['du', '-sb', this.imageDir(name)]);
    return Number(stdout.split('\t')[0]);
  }
}

/**
 * The directory name of an image: "_" doubles and "/" becomes "_", so "debian/12" stays
 * "debian_12" as before, "x_y" is "x__y", and no two names share a directory: runs of "_"
 * are even but for the one that ends where the "/" was (a name's parts cannot start with "_").
 */
export const imageDirName = (name: string): string => name.replaceAll('_', '__').replace('/', '_');

export const imageFileName = (format: Exclude<ImageFormat, 'rootfs'>) => (format === 'iso' ? 'image.iso' : `disk.${format}`);
