import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyCow, cowLayout } from './cow.js';
import { markCowChanges } from './cow-changes.js';
import { baseIdentity, decodeCowMap, encodeCowMap, openCowDisk, readCowFile, writeCowOverBase } from './cow-disk.js';

const MiB = 1024 * 1024;
const size = 8 * MiB;
/** A COW file's bitmap over a disk of `size`, as laid out (padded to its data area). */
const mapBytes = cowLayout(size).dataOffset - cowLayout(size).bitmapOffset;

/** A sparse file of `size` bytes with `parts` written at their offsets. */
async function sparse(file: string, parts: Array<[number, Buffer]>): Promise<void> {
  const fh = await open(file, 'w');
  await fh.truncate(size);
  for (const [at, data] of parts) await fh.write(data, 0, data.length, at);
  await fh.close();
}

const fill = (bytes: number, byte: number) => Buffer.alloc(bytes, byte);

async function whole(disk: { size: number; read(o: number, l: number): Promise<Uint8Array | 'zero'> }, chunk = 4 * MiB): Promise<{ bytes: Buffer; zeroChunks: number }> {
  const out = Buffer.alloc(disk.size);
  let zeroChunks = 0;
  for (let at = 0; at < disk.size; at += chunk) {
    const got = await disk.read(at, Math.min(chunk, disk.size - at));
    if (got === 'zero') zeroChunks++;
    else out.set(got, at);
  }
  return { bytes: out, zeroChunks };
}

test('a disk written over another base as a COW file marks every sector and reads as the disk; over its own base with its map, as thin as it was', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lodge-cow-disk-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const base = path.join(dir, 'base.ext4');
  const raw = path.join(dir, 'disk.raw');
  // the base has data in its first MiB and at 4 MiB; the disk changes blocks of both, writes
  // where the base has a hole, and leaves 5-8 MiB a hole
  await sparse(base, [[0, fill(MiB, 1)], [4 * MiB, fill(4096, 2)]]);
  const first = fill(MiB, 1).fill(9, 8192, 8192 + 4096).fill(0, 65536, 65536 + 4096);
  await sparse(raw, [[0, first], [3 * MiB, fill(512, 7)]]);
  const identity = baseIdentity(base, await stat(base));
  const want = await readFile(raw);
  const readBack = async (cow: string) => {
    const disk = await openCowDisk(cow, identity, 'the test disk');
    try {
      assert.equal(disk.size, size);
      return { ...(await whole(disk)), layout: disk.layout };
    } finally {
      await disk.close();
    }
  };
  const marked = (bitmap: Buffer) => [...bitmap].reduce((n, b) => n + (b.toString(2).match(/1/g)?.length ?? 0), 0);

  // no map (another host's base): every sector marked, the disk's data in the COW file, its holes holes
  const whole1 = path.join(dir, 'whole.cow');
  await writeCowOverBase(raw, whole1, identity, undefined);
  const { bytes, layout } = await readBack(whole1);
  assert.ok(bytes.equals(want), 'the COW file over its base reads as the disk it was made from');
  assert.equal(marked((await readCowFile(whole1, identity, 'x')).bitmap), size / 512);
  // UML's own reading of the format (applyCow) agrees
  const applied = Buffer.from(await readFile(base));
  await applyCow(
    (async function* () {
      yield await readFile(whole1);
    })(),
    async (at, data) => void applied.set(data, at),
  );
  assert.ok(applied.equals(want));
  assert.ok((await stat(whole1)).blocks * 512 < cowLayout(size).dataOffset + 2 * MiB, 'the disk\'s holes stay holes');

  // a map of its own base: the same sectors marked, the rest read from the base
  const bits = Buffer.alloc(mapBytes);
  bits[0] = 0xff; // the first 4 KiB
  bits[(3 * MiB) / 512 / 8] = 0x01; // the 512 bytes of 7s
  const thin = path.join(dir, 'thin.cow');
  await writeCowOverBase(raw, thin, identity, encodeCowMap({ backingFile: base, mtime: identity.mtime, size }, bits));
  const expected = Buffer.from(await readFile(base));
  want.copy(expected, 0, 0, 4096);
  want.copy(expected, 3 * MiB, 3 * MiB, 3 * MiB + 512);
  assert.ok((await readBack(thin)).bytes.equals(expected));
  assert.ok((await readCowFile(thin, identity, 'x')).bitmap.equals(bits));
  // a map of another base (or none that reads) is not used: every sector marked
  const other = path.join(dir, 'other.cow');
  await writeCowOverBase(raw, other, identity, encodeCowMap({ backingFile: '/elsewhere/base.ext4', mtime: identity.mtime, size }, bits));
  assert.ok((await readBack(other)).bytes.equals(want));
  assert.equal(decodeCowMap(Buffer.from('not a map')), undefined);
  // the layout a disk gives back is its map
  assert.equal(decodeCowMap(layout)?.bitmap.length, bits.length);

  // a base that changed since is refused, naming the file
  await assert.rejects(openCowDisk(whole1, { ...identity, mtime: identity.mtime + 1 }, 'the test disk'), /the test disk was written over .*base\.ext4 as it was at/);
});

test("a disk's holes read as zeros without reading, where the sectors' file has no data", async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lodge-cow-disk-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const base = path.join(dir, 'base.ext4');
  const raw = path.join(dir, 'disk.raw');
  await sparse(base, [[0, fill(4096, 1)]]);
  await sparse(raw, [[0, fill(4096, 1)]]);
  const identity = baseIdentity(base, await stat(base));
  const cow = path.join(dir, 'root.cow');
  const none = Buffer.alloc(mapBytes);
  await writeCowOverBase(raw, cow, identity, encodeCowMap({ backingFile: base, mtime: identity.mtime, size }, none));
  const disk = await openCowDisk(cow, identity, 'the test disk');
  try {
    assert.equal((await whole(disk)).zeroChunks, 1, 'the second 4 MiB are a hole of the base');
    assert.equal(await disk.read(MiB, MiB), 'zero');
  } finally {
    await disk.close();
  }
});

test('marks: the first says nothing, the next names the chunks with a bit set now or then, a mark over another base is not trusted', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lodge-cow-marks-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const header = { backingFile: '/images/busybox/base.ext4', mtime: 1000, size };
  const bits = (...sectors: number[]) => {
    const b = Buffer.alloc(mapBytes);
    for (const s of sectors) b[s >> 3]! |= 1 << (s & 7);
    return b;
  };
  const marks = path.join(dir, 'changes');
  assert.equal(await markCowChanges({ header, bitmap: bits(0), dir: marks, mark: 'lodge-a', since: undefined }), undefined);
  // sector 0 was set then, 9000 is set now: both are read again
  assert.deepEqual(await markCowChanges({ header, bitmap: bits(9000), dir: marks, mark: 'lodge-b', since: 'lodge-a' }), [
    [0, 512],
    [9000 * 512, 512],
  ]);
  assert.deepEqual(await readdir(marks), ['lodge-b.map'], 'every mark but the new one is dropped');
  // a mark that is gone, or was over another base, leaves the whole disk to read
  assert.equal(await markCowChanges({ header, bitmap: bits(1), dir: marks, mark: 'lodge-c', since: 'lodge-a' }), undefined);
  assert.equal(await markCowChanges({ header: { ...header, mtime: 1001 }, bitmap: bits(1), dir: marks, mark: 'lodge-d', since: 'lodge-c' }), undefined);
  // a damaged mark file is not trusted either
  await writeFile(path.join(marks, 'lodge-d.map'), 'not a mark');
  assert.equal(await markCowChanges({ header: { ...header, mtime: 1001 }, bitmap: bits(1), dir: marks, mark: 'lodge-e', since: 'lodge-d' }), undefined);
  await assert.rejects(markCowChanges({ header, bitmap: bits(1), dir: marks, mark: '../escape', since: undefined }), /not a name Lodge gives a mark/);
});
