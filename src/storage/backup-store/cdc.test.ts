import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CdcStream, cdcParams } from './cdc.js';

const KiB = 1024;

function cut(data: Buffer, p = cdcParams(16 * KiB, 64 * KiB, 256 * KiB)): Buffer[] {
  const s = new CdcStream(p);
  const out: Buffer[] = [];
  // a chunk is a view, valid until the stream is filled again: copy it at once
  for (const c of s.append(data)) out.push(Buffer.from(c));
  for (const c of s.chunks(true)) out.push(Buffer.from(c));
  return out;
}

test('chunks stay within min and max, cover the data, and average near the target', () => {
  const data = randomBytes(8 * 1024 * KiB);
  const chunks = cut(data);
  assert.ok(Buffer.concat(chunks).equals(data));
  for (const c of chunks.slice(0, -1)) assert.ok(c.length >= 16 * KiB && c.length <= 256 * KiB, String(c.length));
  const avg = data.length / chunks.length;
  assert.ok(avg > 32 * KiB && avg < 128 * KiB, `average ${avg}`);
});

test('an insertion moves only the chunks around it', () => {
  const data = randomBytes(4 * 1024 * KiB);
  const edited = Buffer.concat([data.subarray(0, 1000 * KiB), randomBytes(100), data.subarray(1000 * KiB)]);
  const a = new Set(cut(data).map((c) => c.toString('base64')));
  const b = cut(edited);
  const changed = b.filter((c) => !a.has(c.toString('base64'))).length;
  assert.ok(changed <= 2 && b.length > 20, `${changed} of ${b.length} chunks changed`);
});

test('another gear seed cuts elsewhere (an encrypted store does not reveal boundaries of known data)', () => {
  const data = randomBytes(2 * 1024 * KiB);
  const a = cut(data).map((c) => c.length);
  const b = cut(data, cdcParams(16 * KiB, 64 * KiB, 256 * KiB, randomBytes(32))).map((c) => c.length);
  assert.notDeepEqual(a, b);
});
