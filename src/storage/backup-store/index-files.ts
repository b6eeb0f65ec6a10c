/**
 * @module The two index formats of a backup, each a small binary file ending in the
 * SHA-256 of what precedes it, so that a truncated or garbled index is refused whole:
 *
 * - fixed index (.fidx, disk images): total size, chunk size, then one 32-byte chunk id
 *   per chunk, all zeros for a chunk that is all zeros (nothing stored for it);
 * - chunk list (.cidx, a stream such as a tree's catalog): total size, then per chunk its
 *   32-byte id and its length.
 */
import { createHash } from 'node:crypto';
import { LodgeError } from '../../api/errors.js';

const fixedMagic = Buffer.from('LdgFIDX1');
const listMagic = Buffer.from('LdgCIDX1');
const headerBytes = 24;
const sumBytes = 32;
export const zeroId = '0'.repeat(64);

export interface FixedIndex {
  size: number;
  chunkSize: number;
  /** Hex ids; zeroId for an all-zero chunk. */
  chunks: string[];
}

export interface ChunkRef {
  id: string;
  length: number;
}

export interface ChunkList {
  size: number;
  chunks: ChunkRef[];
}

function seal(body: Buffer): Buffer {
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

function unseal(file: Buffer, magic: Buffer, what: string): Buffer {
  if (file.length < headerBytes + sumBytes || !file.subarray(0, 8).equals(magic)) throw new LodgeError('BAD_REQUEST', `${what} is not a Lodge index (bad magic or truncated)`);
  const body = file.subarray(0, file.length - sumBytes);
  if (!createHash('sha256').update(body).digest().equals(file.subarray(file.length - sumBytes))) throw new LodgeError('BAD_REQUEST', `${what} is damaged (its checksum does not match)`);
  return body;
}

export function encodeFixedIndex(index: FixedIndex): Buffer {
  const body = Buffer.alloc(headerBytes + index.chunks.length * 32);
  fixedMagic.copy(body, 0);
  body.writeBigUInt64LE(BigInt(index.size), 8);
  body.writeUInt32LE(index.chunkSize, 16);
  body.writeUInt32LE(index.chunks.length, 20);
  index.chunks.forEach((id, i) => body.write(id, headerBytes + i * 32, 'hex'));
  return seal(body);
}

/** `what` names the file in errors. */
export function decodeFixedIndex(file: Buffer, what: string): FixedIndex {
  const body = unseal(file, fixedMagic, what);
  const size = Number(body.readBigUInt64LE(8));
  const chunkSize = body.readUInt32LE(16);
  const count = body.readUInt32LE(20);
  if (chunkSize === 0 || body.length !== headerBytes + count * 32 || count !== Math.ceil(size / chunkSize)) throw new LodgeError('BAD_REQUEST', `${what} is inconsistent (size ${size}, chunk size ${chunkSize}, ${count} chunks)`);
  const chunks: string[] = [];
  for (let i = 0; i < count; i++) chunks.push(body.toString('hex', headerBytes + i * 32, headerBytes + (i + 1) * 32));
  return { size, chunkSize, chunks };
}

export function encodeChunkList(list: ChunkList): Buffer {
  const body = Buffer.alloc(headerBytes + list.chunks.length * 36);
  listMagic.copy(body, 0);
  body.writeBigUInt64LE(BigInt(list.size), 8);
  body.writeUInt32LE(list.chunks.length, 16);
  list.chunks.forEach((c, i) => {
    body.write(c.id, headerBytes + i * 36, 'hex');
    body.writeUInt32LE(c.length, headerBytes + i * 36 + 32);
  });
  return seal(body);
}

export function decodeChunkList(file: Buffer, what: string): ChunkList {
  const body = unseal(file, listMagic, what);
  const size = Number(body.readBigUInt64LE(8));
  const count = body.readUInt32LE(16);
  if (body.length !== headerBytes + count * 36) throw new LodgeError('BAD_REQUEST', `${what} is inconsistent (${count} chunks in ${body.length} bytes)`);
  const chunks: ChunkRef[] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    const at = headerBytes + i * 36;
    const length = body.readUInt32LE(at + 32);
    chunks.push({ id: body.toString('hex', at, at + 32), length });
    total += length;
  }
  if (total !== size) throw new LodgeError('BAD_REQUEST', `${what} is inconsistent (its chunks hold ${total} bytes, it says ${size})`);
  return { size, chunks };
}
