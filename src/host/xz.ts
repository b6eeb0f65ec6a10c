/**
 * @module xz, through Debian's xz-utils: no npm binding of liblzma installs without a
 * compiler and network at install time, and the program streams as fast.
 */
import type { Readable } from 'node:stream';
import { runStreaming } from '../lib/exec.js';

/**
 * The decompressed bytes of an xz file, as they come; the stream fails with xz's message on a bad
 * file. One stream only, and at most 256 MiB of xz's memory: a header may ask for a dictionary of
 * gigabytes, and xz refuses it instead.
 */
export function xzDecompressing(file: string, signal?: AbortSignal): Readable {
  return runStreaming(['xz', '--decompress', '--stdout', '--single-stream', '--memlimit-decompress=256MiB', '--', file], { timeoutMs: 60 * 60_000, ...(signal ? { signal } : {}) });
}
