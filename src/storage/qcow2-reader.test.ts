import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../lib/exec.js';
import { fileDiskSource, type DiskSource } from './backup-store/disk.js';
import { withDir } from './backup-store/temp-dir.test-support.js';
import { openQcow2 } from './qcow2-reader.js';

const MiB = 1024 * 1024;
const qemuImg = (...args: string[]) => run(['qemu-img', ...args]);
const qemuIo = (file: string, format: string, ...commands: string[]) => run(['qemu-io', '-f', format, ...commands.flatMap((c) => ['-c', c]), file]);

/** All of a source's bytes, 'zero' answers as zeros. */
async function readAll(source: DiskSource, step = 3 * MiB + 4096): Promise<Buffer> {
  const out = Buffer.alloc(source.size);
  for (let at = 0; at < source.size; at += step) {
    const n = Math.min(step, source.size - at);
    const data = await source.read(at, n);
    if (data !== 'zero') out.set(data, at);
  }
  return out;
}

/** What QEMU says the disk holds. */
async function qemuRaw(dir: string, file: string): Promise<Buffer> {
  const raw = path.join(dir, `${path.basename(file)}.raw`);
  await qemuImg('convert', '-O', 'raw', file, raw);
  return readFile(raw);
}

test('a qcow2 overlay reads as QEMU reads it: its clusters, zero clusters, unallocated ones from the base given, compressed bases of zlib and zstd', async () => {
  await withDir(async (dir) => {
    for (const compression of ['zlib', 'zstd']) {
      const plain = path.join(dir, `plain-${compression}.qcow2`);
      const base = path.join(dir, `base-${compression}.qcow2`);
      const top = path.join(dir, `top-${compression}.qcow2`);
      await qemuImg('create', '-q', '-f', 'qcow2', plain, String(24 * MiB));
      await qemuIo(plain, 'qcow2', 'write -P 0x11 0 5M', 'write -P 0x12 9M 1M', 'write -P 0x13 23M 64k');
      await qemuImg('convert', '-c', '-O', 'qcow2', '-o', `compression_type=${compression}`, plain, base);
      // grown past its base; partial clusters, a zeroed range over base data, data past the base's end
      await qemuImg('create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, top, String(40 * MiB));
      await qemuIo(top, 'qcow2', 'write -P 0x21 4094k 5k', 'write -z 9M 512k', 'write -P 0x22 30M 100k', 'write -P 0x23 39M 1M');
      const backing = await openQcow2(base);
      const disk = await openQcow2(top, async () => backing);
      try {
        assert.equal(disk.size, 40 * MiB);
        assert.ok((await readAll(disk)).equals(await qemuRaw(dir, top)), `${compression}: the bytes QEMU reads`);
        assert.equal(await disk.read(12 * MiB, MiB), 'zero', 'a range no layer has is known zeros, not read');
      } finally {
        await disk.close();
      }
    }
  });
});

test('a raw base reads under an overlay, and a read of an overlay with no base given fails', async () => {
  await withDir(async (dir) => {
    const base = path.join(dir, 'base.raw');
    const top = path.join(dir, 'top.qcow2');
    await writeFile(base, Buffer.alloc(8 * MiB, 0x41));
    await qemuImg('create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base, top);
    await qemuIo(top, 'qcow2', 'write -P 0x42 1M 4k');
    const backing = await fileDiskSource(base);
    const disk = await openQcow2(top, async () => backing);
    assert.ok((await readAll(disk)).equals(await qemuRaw(dir, top)));
    await disk.close();
    const alone = await openQcow2(top);
    await assert.rejects(alone.read(0, 4096), /top.qcow2 is not a qcow2 disk Lodge can read: it names a backing file, and none was given/);
    await alone.close();
  });
});

test('persistent dirty bitmaps: the ranges a bitmap recorded, whether it records, and one left open is not trusted', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'disk.qcow2');
    await qemuImg('create', '-q', '-f', 'qcow2', file, String(64 * MiB));
    await qemuImg('bitmap', '--add', file, 'first');
    await qemuIo(file, 'qcow2', 'write 4M 64k', 'write 10M 200k');
    await qemuImg('bitmap', '--add', '-g', '1M', file, 'second');
    await qemuImg('bitmap', '--disable', file, 'first');
    await qemuIo(file, 'qcow2', 'write 63M 1k');
    const disk = await openQcow2(file);
    try {
      const byName = new Map(disk.bitmaps.map((b) => [b.name, b]));
      assert.deepEqual([...byName.keys()].sort(), ['first', 'second']);
      assert.equal(byName.get('first')!.recording, false);
      assert.equal(byName.get('second')!.recording, true);
      assert.deepEqual(await disk.dirtyRanges(byName.get('first')!), [[4 * MiB, 64 * 1024], [10 * MiB, 256 * 1024]]);
      assert.deepEqual(await disk.dirtyRanges(byName.get('second')!), [[63 * MiB, MiB]]);
    } finally {
      await disk.close();
    }
    // what QEMU leaves of a bitmap when it dies with the disk open: the in-use flag (byte 12..15 of its directory entry, bit 0)
    const probe = await openQcow2(file);
    const first = probe.bitmaps.find((b) => b.name === 'first')!;
    await probe.close();
    await markInUse(file);
    const crashed = await openQcow2(file);
    try {
      assert.ok(crashed.bitmaps.every((b) => b.inUse));
      await assert.rejects(crashed.dirtyRanges({ ...first, inUse: true }), /bitmap first was not closed by QEMU/);
    } finally {
      await crashed.close();
    }
  });
});

test('hostile headers are refused by what is wrong, never read past the file', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'disk.qcow2');
    await qemuImg('create', '-q', '-f', 'qcow2', file, String(8 * MiB));
    const good = await readFile(file);
    const cases: Array<[string, (b: Buffer) => void, RegExp]> = [
      ['magic', (b) => b.writeUInt32BE(0, 0), /no qcow2 magic/],
      ['cluster bits', (b) => b.writeUInt32BE(40, 20), /cluster bits 40/],
      ['encrypted', (b) => b.writeUInt32BE(1, 32), /it is encrypted/],
      ['L1 outside', (b) => b.writeBigUInt64BE(1n << 40n, 40), /its L1 table lies outside the file/],
      ['L1 too small', (b) => b.writeUInt32BE(0, 36), /an L1 table of 0 entries/],
      ['external data', (b) => b.writeBigUInt64BE(4n, 72), /external file/],
      ['virtual size', (b) => b.writeBigUInt64BE(1n << 62n, 24), /a virtual size of/],
    ];
    for (const [what, spoil, error] of cases) {
      const bad = Buffer.from(good);
      spoil(bad);
      await writeFile(file, bad);
      await assert.rejects(openQcow2(file), error, what);
    }
    await writeFile(file, good.subarray(0, 50));
    await assert.rejects(openQcow2(file), /no qcow2 magic|shorter than its header/);
  });
});

/** Sets the in-use flag of every bitmap in the directory, as a QEMU killed with the disk open leaves them. */
async function markInUse(file: string): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const head = Buffer.alloc(4096);
    await fh.read(head, 0, 4096, 0);
    for (let off = head.readUInt32BE(100); off + 8 <= head.length; ) {
      const type = head.readUInt32BE(off);
      const length = head.readUInt32BE(off + 4);
      if (type === 0) break;
      if (type === 0x23852875) {
        const count = head.readUInt32BE(off + 8);
        const dirBytes = Number(head.readBigUInt64BE(off + 16));
        const dirAt = Number(head.readBigUInt64BE(off + 24));
        const entries = Buffer.alloc(dirBytes);
        await fh.read(entries, 0, dirBytes, dirAt);
        for (let e = 0, at = 0; e < count; e++) {
          entries.writeUInt32BE(entries.readUInt32BE(at + 12) | 1, at + 12);
          at = Math.ceil((at + 24 + entries.readUInt32BE(at + 20) + entries.readUInt16BE(at + 18)) / 8) * 8;
        }
        await fh.write(entries, 0, dirBytes, dirAt);
      }
      off += 8 + Math.ceil(length / 8) * 8;
    }
  } finally {
    await fh.close();
  }
}
