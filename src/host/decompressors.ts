/**
 * @module xz and zstd, through Debian's xz-utils and zstd: each runs as a program of its own
 * with a bound on its memory, so that a hostile file's header cannot make lodged (or the
 * program) hold gigabytes. (zstd-napi's stream pushes all that one input chunk inflates to
 * without waiting for the reader: a small bomb would fill lodged's heap before any bound saw it.)
 */
import type { Readable } from 'node:stream';
import { runStreaming } from '../lib/exec.js';

const argv = {
  // one stream only, and at most 256 MiB of xz's memory: a header may ask for a dictionary of gigabytes
  xz: (file: string) => ['xz', '--decompress', '--stdout', '--single-stream', '--memlimit-decompress=256MiB', '--', file],
  // a frame whose window needs more than 128 MiB is refused
  zstd: (file: string) => ['zstd', '--decompress', '--stdout', '--memory=128MB', '--', file],
};

/** The decompressed bytes of a file, as they come; the stream fails with the program's message on a bad file. */
export function decompressing(compression: keyof typeof argv, file: string, signal?: AbortSignal): Readable {
  return runStreaming(argv[compression](file), { timeoutMs: 60 * 60_000, ...(signal ? { signal } : {}) });
}
