/**
 * @module The keys of an encrypted store, all derived from the 32-byte master key the
 * administrator keeps (HKDF-SHA256, one label per use), so that no derived value gives
 * away another: the chunk cipher key, the chunk id key (HMAC-SHA256 ids, as PBS does, so
 * that ids do not reveal plaintext hashes), the content-defined chunker's gear table
 * (chunk boundaries reveal nothing either, as in borg) and the fingerprint kept in the
 * store's config to tell a right key from a wrong one.
 */
import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { LodgeError } from '../../api/errors.js';

export const masterKeyBytes = 32;

export interface StoreKeys {
  cipher: Buffer;
  ids: Buffer;
  gearSeed: Buffer;
  fingerprint: string;
}

const derive = (master: Buffer, label: string, bytes = 32) => Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `lodge backup store: ${label}`, bytes));

export function checkMasterKey(key: Uint8Array): Buffer {
  if (!(key instanceof Uint8Array) || key.length !== masterKeyBytes) throw new LodgeError('BAD_REQUEST', `the backup store key must be ${masterKeyBytes} bytes`);
  return Buffer.from(key);
}

export function deriveKeys(master: Uint8Array): StoreKeys {
  const m = checkMasterKey(master);
  return {
    cipher: derive(m, 'chunk cipher'),
    ids: derive(m, 'chunk ids'),
    gearSeed: derive(m, 'cdc gear'),
    fingerprint: derive(m, 'fingerprint', 16).toString('hex'),
  };
}

export const fingerprintMatches = (keys: StoreKeys, recorded: string) =>
  recorded.length === keys.fingerprint.length && timingSafeEqual(Buffer.from(recorded), Buffer.from(keys.fingerprint));

/** A chunk's id: SHA-256 of its bytes, or HMAC-SHA256 under the id key in an encrypted store. */
export function chunkIdOf(data: Uint8Array, idKey: Buffer | undefined): Buffer {
  return idKey ? createHmac('sha256', idKey).update(data).digest() : createHash('sha256').update(data).digest();
}
