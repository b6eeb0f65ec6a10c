/**
 * @module Where an open sparse file holds data, so that a backup reads only that and
 * records its holes as zeros, unread. Node has no binding for lseek's SEEK_DATA and
 * SEEK_HOLE, so lodge-extents asks the kernel, given the descriptor already open (through
 * /proc/PID/fd: no name in the tree is looked up again), a batch of extents at a time.
 */
import type { FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { LodgeError } from '../../api/errors.js';
import { run } from '../../lib/exec.js';

/** Bytes [start, end) of a file that hold data; what lies between is a hole. */
export type Extent = [start: number, end: number];

export interface ExtentOptions {
  /** A hole shorter than this is counted as data: reading it costs less than skipping it. */
  minHole?: number;
  /** Extents asked for in one run of lodge-extents. */
  batch?: number;
}

const helper = fileURLToPath(new URL('../../../shim/lodge-extents', import.meta.url));

/** The data of `fh` within [0, size), in order: never past `size`, whatever the file has become. */
export async function* dataExtents(fh: FileHandle, size: number, what: string, opts: ExtentOptions = {}): AsyncGenerator<Extent> {
  const minHole = opts.minHole ?? 64 * 1024;
  const batch = opts.batch ?? 16384;
  let from = 0;
  for (;;) {
    let out: string;
    try {
      ({ stdout: out } = await run([helper, `/proc/${process.pid}/fd/${fh.fd}`, String(from), String(size), String(minHole), String(batch)]));
    } catch (e) {
      throw new LodgeError('INTERNAL', `Failed finding the data extents of ${what}`, { cause: e });
    }
    const lines = out.split('\n').slice(0, -1);
    for (const line of lines) {
      const m = /^(\d{1,16}) (\d{1,16})$/.exec(line);
      const extent: Extent | undefined = m ? [Number(m[1]), Number(m[2])] : undefined;
      if (!extent || extent[0] < from || extent[1] <= extent[0] || extent[1] > size) {
        throw new LodgeError('INTERNAL', `lodge-extents gave "${line}" for ${what} (bytes from ${from} to ${size} asked)`);
      }
      yield extent;
      from = extent[1];
    }
    if (lines.length < batch) return;
  }
}
