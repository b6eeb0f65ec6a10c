/**
 * @module Where images live on disk: one directory per image holding its canonical
 * rootfs (and, beside it, the shifted copies that storage/shift.ts makes), or its one
 * disk or ISO file.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ImageFormat } from '../api/images.js';
import { run } from '../lib/exec.js';

export class ImageFiles {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  /** The directory of one image; "debian/12" becomes "debian_12". */
  imageDir(name: string): string {
    return path.join(this.dir, name.replace('/', '_'));
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
    const dir = `${this.imageDir(name)}.new`;
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** Removes staging directories that a crash left behind. */
  async sweepStaging(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const entry of await readdir(this.dir)) {
      if (entry.endsWith('.new') || entry.endsWith('.old')) await rm(path.join(this.dir, entry), { recursive: true, force: true });
    }
  }

  async remove(name: string): Promise<void> {
    await rm(this.imageDir(name), { recursive: true, force: true });
  }

  async sizeBytes(name: string): Promise<number> {
    const { stdout } = await run(['du', '-sb', this.imageDir(name)]);
    return Number(stdout.split('\t')[0]);
  }
}

export const imageFileName = (format: Exclude<ImageFormat, 'rootfs'>) => (format === 'iso' ? 'image.iso' : `disk.${format}`);
