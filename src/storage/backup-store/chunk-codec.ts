/**
 * @module The bytes of one chunk file: a 12-byte header (magic "LdgC", version, flags
 * compressed/encrypted, the plaintext length), then when encrypted the AES-256-GCM nonce
 * and tag, then the payload (zstd-compressed unless that would not make it smaller). The
 * GCM additional data is the header and the chunk's id, so a chunk file moved under
 * another id fails to decrypt. Decoding checks everything it can and says which chunk failed.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { compress } from 'zstd-napi';
import { decompressBounded } from '../../lib/zstd.js';
import { maxChunkBytes } from './format.js';

const magic = Buffer.from('LdgC');
const version = 1;
const flagCompressed = 1;
const flagEncrypted = 2;
export const headerBytes = 12;
const nonceBytes = 12;
const tagBytes = 16;

/** A chunk that cannot be read back as what its id says: damaged, missing or forged. */
export class ChunkError extends Error {
  readonly chunk: string;
  constructor(chunk: string, message: string, options?: { cause?: unknown }) {
    super(`chunk ${chunk}: ${message}`, options);
    this.name = 'ChunkError';
    this.chunk = chunk;
  }
}

export interface CodecKeys {
  /** AES-256-GCM key; absent in an unencrypted store. */
  cipher?: Buffer;
  level: number;
}

export function encodeChunk(data: Uint8Array, id: Buffer, keys: CodecKeys): Buffer[] {
  let payload: Buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let flags = 0;
  const packed = compress(data, { compressionLevel: keys.level });
  if (packed.length < data.length) {
    payload = packed;
    flags |= flagCompressed;
  }
  const header = Buffer.alloc(headerBytes);
  magic.copy(header, 0);
  header[4] = version;
  header[5] = flags | (keys.cipher ? flagEncrypted : 0);
  header.writeUInt32LE(data.length, 8);
  if (!keys.cipher) return [header, payload];
  const nonce = randomBytes(nonceBytes);
  const cipher = createCipheriv('aes-256-gcm', keys.cipher, nonce);
  cipher.setAAD(Buffer.concat([header, id]));
  const sealed = Buffer.concat([cipher.update(payload), cipher.final()]);
  return [header, nonce, cipher.getAuthTag(), sealed];
}

/** The plaintext of a chunk file; the caller still checks that it hashes to `id`. */
export function decodeChunk(file: Buffer, id: Buffer, keys: CodecKeys): Buffer {
  const name = id.toString('hex');
  if (file.length < headerBytes || !file.subarray(0, 4).equals(magic)) throw new ChunkError(name, 'not a chunk file (bad magic or truncated header)');
  if (file[4] !== version) throw new ChunkError(name, `unknown chunk version ${file[4]}`);
  const flags = file[5]!;
  const length = file.readUInt32LE(8);
  if (length > maxChunkBytes) throw new ChunkError(name, `length ${length} is beyond the largest chunk`);
  let payload = file.subarray(headerBytes);
  if (flags & flagEncrypted) {
    if (!keys.cipher) throw new ChunkError(name, 'is encrypted but the store was opened without a key');
    if (payload.length < nonceBytes + tagBytes) throw new ChunkError(name, 'truncated (no room for nonce and tag)');
    const decipher = createDecipheriv('aes-256-gcm', keys.cipher, payload.subarray(0, nonceBytes));
    decipher.setAAD(Buffer.concat([file.subarray(0, headerBytes), id]));
    decipher.setAuthTag(payload.subarray(nonceBytes, nonceBytes + tagBytes));
    try {
      payload = Buffer.concat([decipher.update(payload.subarray(nonceBytes + tagBytes)), decipher.final()]);
    } catch (e) {
      throw new ChunkError(name, 'fails authentication (damaged, or not of this store)', { cause: e });
    }
  } else if (keys.cipher) {
    throw new ChunkError(name, 'is not encrypted in an encrypted store');
  }
  let data: Buffer;
  if (flags & flagCompressed) {
    try {
      data = decompressBounded(payload, length);
    } catch (e) {
      throw new ChunkError(name, 'does not decompress', { cause: e });
    }
  } else {
    data = payload;
  }
  if (data.length !== length) throw new ChunkError(name, `holds ${data.length} bytes where its header says ${length}`);
  return data;
}
