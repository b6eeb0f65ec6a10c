import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cowHeader, cowLayout, parseCowHeader } from './cow.js';

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

test('a COW header Lodge writes reads back, and lays out as UML lays out its own', () => {
  const header = { backingFile: '/var/lib/lodge/images/busybox/rootfs.ext4', mtime: 1796174614, size: 614465536 };
  const buf = cowHeader(header);
  assert.deepEqual(parseCowHeader(buf), header);
  // measured on a COW file UML made over a base of that size: bitmap at 8192, data at 159744
  assert.deepEqual(cowLayout(614465536), { bitmapOffset: 8192, dataOffset: 159744 });
  assert.equal(buf.length, 8192);
  assert.equal(buf.readUInt32BE(20), 512);
  assert.equal(buf.readUInt32BE(24), 4096);
});
