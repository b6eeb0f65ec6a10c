/**
 * @module For the store's tests: bytes that look random but are the same in every run, so
 * that where content-defined chunking cuts them, and what a test counts of it, cannot
 * change from one run to the next.
 */
import { createCipheriv, createHash } from 'node:crypto';

/** `n` bytes of AES-256-CTR keystream under a key named by `seed`: another seed, other bytes. */
export function seededBytes(seed: string, n: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}
