/**
 * @module zstd, through Debian's zstd program rather than zstd-napi: the binding's stream
 * pushes all the output of one input chunk at once, without backpressure, so a small hostile
 * frame could fill lodged's heap; a child's stdout waits for its reader.
 */
import type { Readable } from 'node:stream';
import { runStreaming } from '../lib/exec.js';

/** The decompressed bytes of a zstd file, as they come; the stream fails with zstd's message on a bad file. */
export function zstdDecompressing(file: string, signal?: AbortSignal): Readable {
  // --memory caps the window a frame may ask for (zstd's own memory, not its output)
  return runStreaming(['zstd', '--decompress', '--stdout', '--memory=128MB', '--', file], { timeoutMs: 60 * 60_000, ...(signal ? { signal } : {}) });
}
