/**
 * @module Rootfs tarballs compressed with xz or zstd, made plain tarballs before they are
 * checked and unpacked (busybox tar in the confined unpacker reads gzip itself, not these).
 * The output is bounded: a small hostile file can inflate to more than the disk holds.
 */
import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LodgeError } from '../api/errors.js';
import { decompressing } from '../host/decompressors.js';
import { limitsFor } from './import.js';

export type Compression = 'xz' | 'zstd';

const magics: Array<[Compression, Buffer]> = [
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
];

/** Pure: the compression a file's first bytes say, if xz or zstd. */
export function compressionOf(head: Buffer): Compression | undefined {
  return magics.find(([, magic]) => head.subarray(0, magic.length).equals(magic))?.[0];
}

export async function compressionOfFile(file: string): Promise<Compression | undefined> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return compressionOf(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/** Passes bytes on until there have been more than `maxBytes`, then fails. */
function capped(maxBytes: number, what: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > maxBytes) done(new LodgeError('BAD_REQUEST', `${what} is more than ${Math.floor(maxBytes / 2 ** 20)} MiB decompressed, more than there is room for`));
      else done(null, chunk);
    },
  });
}

/**
 * Pure: how large the plain tarball of a compressed import may be, given the free space: what
 * its entries may hold and a quarter more for their headers (the check that follows holds them
 * to the rest), and never more than half the free space, so its extraction has the other half.
 */
export const plainTarballBytes = (freeBytes: number) => Math.min(Math.floor(freeBytes / 2), Math.floor(limitsFor(freeBytes).totalBytes * 1.25));

/** Writes the plain tarball of `file` (compressed as `compression`) to `dest`, at most `maxBytes` of it. */
export async function decompressTarball(file: string, compression: Compression, dest: string, maxBytes: number, signal?: AbortSignal): Promise<void> {
  const what = `the ${compression} tarball`;
  try {
    await pipeline([decompressing(compression, file, signal), capped(maxBytes, what), createWriteStream(dest, { mode: 0o600 })], signal ? { signal } : {});
  } catch (e) {
    if (e instanceof LodgeError) throw e;
    throw new LodgeError('BAD_REQUEST', `${what} could not be decompressed: ${(e as Error).message.split('\n').slice(-2).join(' ').trim()}`, { cause: e });
  }
}
