import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findExtFilesystem } from './disk-layout.js';

const mib = 1024 * 1024;

function disk(bytes: number): Buffer {
  return Buffer.alloc(bytes);
}
const ext = (d: Buffer, at: number) => d.writeUInt16LE(0xef53, at + 1024 + 56);
const reader = (d: Buffer) => async (offset: number, length: number) => d.subarray(offset, offset + length);

function mbr(d: Buffer, parts: Array<{ type: number; start: number; count: number }>) {
  parts.forEach((p, i) => {
    d[446 + 16 * i + 4] = p.type;
    d.writeUInt32LE(p.start, 446 + 16 * i + 8);
    d.writeUInt32LE(p.count, 446 + 16 * i + 12);
  });
  d.writeUInt16LE(0xaa55, 510);
}

function gpt(d: Buffer, parts: Array<{ first: number; last: number }>) {
  mbr(d, [{ type: 0xee, start: 1, count: d.length / 512 - 1 }]);
  d.write('EFI PART', 512, 'latin1');
  d.writeBigUInt64LE(2n, 512 + 72);
  d.writeUInt32LE(128, 512 + 80);
  d.writeUInt32LE(128, 512 + 84);
  parts.forEach((p, i) => {
    const e = 1024 + 128 * i;
    d.fill(0xab, e, e + 16);
    d.writeBigUInt64LE(BigInt(p.first), e + 32);
    d.writeBigUInt64LE(BigInt(p.last), e + 40);
  });
}

test('a bare ext filesystem is the whole disk', async () => {
  const d = disk(4 * mib);
  ext(d, 0);
  assert.deepEqual(await findExtFilesystem(reader(d), d.length), { offset: 0, where: 'the whole disk' });
});

test('MBR: the largest partition holding ext, past one that holds something else', async () => {
  const d = disk(16 * mib);
  mbr(d, [
    { type: 0x0c, start: 2048, count: 2048 },
    { type: 0x83, start: 4096, count: 4096 },
    { type: 0x83, start: 8192, count: 16384 },
  ]);
  ext(d, 4096 * 512);
  ext(d, 8192 * 512);
  assert.deepEqual(await findExtFilesystem(reader(d), d.length), { offset: 8192 * 512, where: 'partition 3' });
});

test('GPT: the ext partition, whatever its number', async () => {
  const d = disk(16 * mib);
  gpt(d, [
    { first: 2048, last: 4095 },
    { first: 4096, last: 20479 },
  ]);
  ext(d, 4096 * 512);
  assert.deepEqual(await findExtFilesystem(reader(d), d.length), { offset: 4096 * 512, where: 'partition 2' });
});

test('other filesystems, and tables pointing past the disk, say why', async () => {
  const none = disk(4 * mib);
  assert.match((await findExtFilesystem(reader(none), none.length) as { why: string }).why, /no ext2\/3\/4 filesystem and no partition table/);
  const vfat = disk(4 * mib);
  mbr(vfat, [{ type: 0x0c, start: 2048, count: 4096 }]);
  assert.match((await findExtFilesystem(reader(vfat), vfat.length) as { why: string }).why, /none of its partitions \(1\) holds an ext2\/3\/4 filesystem/);
  const past = disk(4 * mib);
  mbr(past, [{ type: 0x83, start: 2048, count: 1 << 30 }]);
  assert.match((await findExtFilesystem(reader(past), past.length) as { why: string }).why, /has no partition/);
});
