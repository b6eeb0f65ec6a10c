import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCowHeader } from './cow.js';

function header(version = 3): Buffer {
  const buf = Buffer.alloc(32 + 4096);
  buf.writeUInt32BE(0x4f4f4f4d, 0);
  buf.writeUInt32BE(version, 4);
  buf.writeUInt32BE(1795474528, 8);
  buf.writeBigUInt64BE(412090368n, 12);
  buf.writeUInt32BE(512, 20);
  buf.write('/var/lib/lodge/images/busybox/rootfs.ext4', 32);
  return buf;
}

test('a version 3 header gives the backing file, its mtime and size', () => {
  assert.deepEqual(parseCowHeader(header()), { backingFile: '/var/lib/lodge/images/busybox/rootfs.ext4', mtime: 1795474528, size: 412090368 });
});

test('anything else is not a header Lodge reads', () => {
  assert.equal(parseCowHeader(header(2)), undefined);
  assert.equal(parseCowHeader(Buffer.from('not a cow file at all, no magic here')), undefined);
  assert.equal(parseCowHeader(Buffer.alloc(8)), undefined);
});
