import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyCow, cowHeader, cowLayout, parseCowHeader } from './cow.js';

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

/** A COW file over a disk of `sectors` sectors whose set sectors hold `data(n)`. */
function cowFile(sectors: number, set: number[], data: (n: number) => number): Buffer {
  const size = sectors * 512;
  const { bitmapOffset, dataOffset } = cowLayout(size);
  const file = Buffer.alloc(dataOffset + size);
  cowHeader({ backingFile: '/base', mtime: 1, size }).copy(file);
  for (const n of set) {
    file[bitmapOffset + (n >> 3)]! |= 1 << (n & 7);
    file.fill(data(n), dataOffset + n * 512, dataOffset + (n + 1) * 512);
  }
  return file;
}

/** `file` as the pieces a backup reads it in: cut at `every` bytes, the all-zero ones as counts. */
async function* piecesOf(file: Buffer, every: number): AsyncGenerator<Buffer | number> {
  for (let at = 0; at < file.length; at += every) {
    const piece = file.subarray(at, at + every);
    yield piece.every((b) => b === 0) ? piece.length : piece;
  }
}

test('applyCow writes the set sectors over the base, zero ones as zeros, whatever the pieces', async () => {
  const sectors = 64;
  const set = [1, 2, 10, 11, 12, 13, 14, 15, 16, 17, 63];
  // sector 12 was zeroed by the guest: its bit is set and its data is zeros
  const file = cowFile(sectors, set, (n) => (n === 12 ? 0 : n + 1));
  for (const every of [1000, 512, 4096, 100_000]) {
    const disk = Buffer.alloc(sectors * 512, 0xee);
    const header = await applyCow(piecesOf(file, every), async (at, data) => void data.copy(disk, at));
    assert.equal(header.size, sectors * 512);
    for (let n = 0; n < sectors; n++) {
      const want = n === 12 ? 0 : set.includes(n) ? n + 1 : 0xee;
      assert.ok(disk.subarray(n * 512, (n + 1) * 512).every((b) => b === want), `sector ${n} in pieces of ${every}`);
    }
  }
});

test('applyCow refuses what is no COW file Lodge makes, and one cut short', async () => {
  const write = async () => {};
  await assert.rejects(applyCow(piecesOf(Buffer.alloc(10_000, 1), 4096), write), /not a UML COW file/);
  const odd = cowFile(8, [], () => 0);
  odd.writeUInt32BE(4096, 20);
  await assert.rejects(applyCow(piecesOf(odd, 4096), write), /sectors of 4096 bytes/);
  await assert.rejects(applyCow(piecesOf(cowFile(64, [1], () => 1).subarray(0, 9000), 4096), write), /ends before its data area/);
});
