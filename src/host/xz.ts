/**
 * @module xz, through Debian's xz-utils: no npm binding of liblzma installs without a
 * compiler and network at install time, and the program streams as fast.
 */
import type { Readable } from 'node:stream';
import { runStreaming } from '../lib/exec.js';

/** The decompressed bytes of an xz file, as they come; the stream fails with xz's message on a bad file. */
export function xzDecompressing(file: string, signal?: AbortSignal): Readable {
  // one stream only (data after it is refused), and a memory cap so a header cannot make xz allocate gigabytes
  return runStreaming(['xz', '--decompress', '--stdout', '--memlimit-decompress=256MiB', '--single-stream', '--', file], { timeoutMs: 60 * 60_000, ...(signal ? { signal } : {}) });
}
