/**
 * @module zstd frames from files that may be hostile, inflated into a buffer of a known
 * bound: a frame that claims (or makes) more than `maxBytes` fails instead of allocating
 * what it says (an 8 KB frame can claim gigabytes).
 */
import binding from 'zstd-napi/binding.js';

/** One whole frame (no bytes after it) inflated, at most `maxBytes` of it. */
export function decompressBounded(frame: Uint8Array, maxBytes: number): Buffer {
  const out = Buffer.allocUnsafe(maxBytes);
  const n = new binding.DCtx().decompress(out, frame);
  return out.subarray(0, n);
}

/** The bytes of the first frame in `data` (a qcow2 cluster's sectors end in padding after it). */
export const firstFrameBytes = (data: Uint8Array): number => binding.findFrameCompressedSize(data);
