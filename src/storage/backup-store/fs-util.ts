/**
 * @module Durable writes for the backup store: a file appears whole or not at all
 * (temp file, fsync, rename, fsync of the directory), and temp names that a sweep can
 * recognise and remove after a crash.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

/** Marks a temp file: `<name>.tmp-<random>`; gc removes old ones. */
export const tempMarker = '.tmp-';

export const tempNameFor = (file: string) => `${file}${tempMarker}${randomBytes(6).toString('hex')}`;

export const errnoIs = (e: unknown, ...codes: string[]) => codes.includes((e as NodeJS.ErrnoException)?.code ?? '');

/** Makes a directory's entries (a rename into it) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes `data` to `file` atomically: a reader sees the old file or the whole new one.
 * `sync: false` leaves the data's durability to a later sync of the whole filesystem
 * (chunks are made durable together before a manifest is written).
 */
export async function writeFileAtomic(file: string, data: Uint8Array | readonly Uint8Array[], opts: { sync?: boolean; mode?: number } = {}): Promise<void> {
  const temp = tempNameFor(file);
  const fh = await open(temp, 'wx', opts.mode ?? 0o644);
  try {
    try {
      await fh.writeFile(data instanceof Uint8Array ? data : Buffer.concat(data));
      if (opts.sync !== false) await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(temp, file);
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    throw e;
  }
  if (opts.sync !== false) await fsyncDir(path.dirname(file));
}
