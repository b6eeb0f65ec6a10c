/**
 * @module Where images live on disk: one directory per image holding its canonical
 * rootfs (and, beside it, the shifted copies that storage/shift.ts makes).
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
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

  /** A fresh, empty staging directory for an image being made; renamed into place when done. */
  async staging(name: string): Promise<string> {
    const dir = `${this.imageDir(name)}.new`;
    await rm(dir, { recursive: true, force: true });
    await mkdir(path.join(dir, 'rootfs'), { recursive: true });
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
    const { stdout } = await run(['du', '-sb', this.rootfs(name)]);
    return Number(stdout.split('\t')[0]);
  }
}
