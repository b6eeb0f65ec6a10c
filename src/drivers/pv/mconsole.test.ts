import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeReply, encodeRequest } from './mconsole.js';

test('a request carries the magic, version 2, the length and the text', () => {
  const buf = encodeRequest('version');
  assert.equal(buf.readUInt32LE(0), 0xcafebabe);
  assert.equal(buf.readUInt32LE(4), 2);
  assert.equal(buf.readUInt32LE(8), 7);
  assert.equal(buf.subarray(12).toString(), 'version');
  assert.throws(() => encodeRequest('x'.repeat(600)), /longer than 511 bytes/);
});

test('a reply gives its error and more flags and its text', () => {
  const buf = Buffer.alloc(12 + 5);
  buf.writeUInt32LE(1, 0);
  buf.writeUInt32LE(0, 4);
  buf.writeUInt32LE(5, 8);
  buf.write('nope\0', 12);
  assert.deepEqual(decodeReply(buf), { err: true, more: false, text: 'nope' });
  assert.throws(() => decodeReply(Buffer.alloc(4)), /short mconsole reply/);
});
