import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DataRef } from './catalog.js';
import { dataExtents } from './extents.js';
import { createStore } from './store.js';
import { withDir } from './temp-dir.test-support.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

type Region = { at: number; data: Buffer };

/** A sparse file of `size` bytes holding `regions` (what lies between them is holes). */
async function sparseFile(file: string, size: number, regions: Region[]): Promise<void> {
  const fh = await open(file, 'w');
  try {
    for (const r of regions) await fh.write(r.data, 0, r.data.length, r.at);
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
}

/** What a file made by sparseFile holds in [at, at + length). */
function expected(regions: Region[], at: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (const r of regions) {
    const from = Math.max(r.at, at);
    const to = Math.min(r.at + r.data.length, at + length);
    if (from < to) r.data.copy(out, from - at, from - r.at, to - r.at);
  }
  return out;
}

test('a GiB sparse file backs up reading only its data, and restores identical and sparse', async () => {
  await withDir(async (dir) => {
    const regions: Region[] = [
      { at: 0, data: randomBytes(MiB) },
      { at: 300 * MiB + 12345, data: randomBytes(3 * MiB) },
      { at: 700 * MiB, data: randomBytes(KiB) },
      { at: GiB - 2 * MiB, data: randomBytes(2 * MiB) },
    ];
    const data = regions.reduce((n, r) => n + r.data.length, 0);
    await mkdir(path.join(dir, 'src'));
    await sparseFile(path.join(dir, 'src/disk'), GiB, regions);
    const store = await createStore(path.join(dir, 'store'));
    const m = await store.runBackup('pv1', {}, (w) => w.addTree('root', path.join(dir, 'src')).then(() => undefined));
    const info = m.indexes[0]!;
    assert.equal(info.size, GiB);
    // what is read is the data, rounded out to the filesystem's blocks
    assert.ok(info.bytesRead >= data && info.bytesRead <= data + 8 * 64 * KiB, `read ${info.bytesRead} bytes for ${data} of data`);
    assert.ok(info.bytesStored < data + MiB, `stored ${info.bytesStored}`);

    const out = path.join(dir, 'out');
    await store.restoreTree('pv1', m.id, 'root', out);
    const st = await lstat(path.join(out, 'disk'));
    assert.equal(st.size, GiB);
    assert.ok(st.blocks * 512 < data + 2 * MiB, `restored sparse: ${st.blocks * 512} bytes allocated`);
    // identical: outside its data extents a file reads as zeros, so comparing the extents compares all
    const fh = await open(path.join(out, 'disk'), 'r');
    try {
      let compared = 0;
      for await (const [from, to] of dataExtents(fh, GiB, 'the restored file', { minHole: 1 })) {
        const got = Buffer.alloc(to - from);
        await fh.read(got, 0, got.length, from);
        assert.ok(got.equals(expected(regions, from, got.length)), `bytes ${from} to ${to}`);
        compared += got.length;
      }
      assert.ok(compared >= data, 'every region is in the restored extents');
    } finally {
      await fh.close();
    }
  });
});

test('a file gives the same chunks whether its zeros are holes or written', async () => {
  await withDir(async (dir) => {
    const size = 48 * MiB;
    const regions: Region[] = [
      { at: 0, data: randomBytes(MiB + 7) },
      { at: 21 * MiB, data: randomBytes(100 * KiB) },
      { at: 29 * MiB + 3, data: randomBytes(5 * MiB) },
    ];
    await mkdir(path.join(dir, 'src'));
    await sparseFile(path.join(dir, 'src/holes'), size, regions);
    await writeFile(path.join(dir, 'src/written'), expected(regions, 0, size));
    assert.ok((await lstat(path.join(dir, 'src/written'))).blocks * 512 >= size, 'the zeros of the second file are allocated');
    const store = await createStore(path.join(dir, 'store'));
    const m = await store.runBackup('g', {}, (w) => w.addTree('t', path.join(dir, 'src')).then(() => undefined));
    const data = regions.reduce((n, r) => n + r.data.length, 0);
    assert.ok(m.bytesRead >= size + data && m.bytesRead < size + data + MiB, `one file read whole, the other its data only: ${m.bytesRead}`);
    const refs = new Map<string, DataRef[]>();
    for await (const e of await store.catalog('g', m.id, 't')) if (e.data) refs.set(e.path.toString(), e.data);
    assert.deepEqual(refs.get('holes'), refs.get('written'));
    assert.ok(refs.get('holes')!.some(([id]) => id === null), 'chunks of zeros are stored nowhere');
  });
});
