import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileDiskSource, type DiskSource } from './disk.js';
import { zeroId } from './index-files.js';
import { createStore } from './store.js';
import { withDir } from './temp-dir.test-support.js';

const MiB = 1024 * 1024;

/** A 20 MiB sparse image: data in chunks 0, 2 and the partial tail, a hole elsewhere. */
async function makeImage(file: string): Promise<Buffer> {
  const size = 18 * MiB + 12345;
  const fh = await open(file, 'w');
  await fh.truncate(size);
  await fh.write(randomBytes(MiB), 0, MiB, 0);
  await fh.write(randomBytes(4 * MiB), 0, 4 * MiB, 8 * MiB);
  await fh.write(randomBytes(12345), 0, 12345, 16 * MiB + 100);
  await fh.close();
  return readFile(file);
}

test('a disk backs up as fixed chunks, zeros stored as nothing, and restores sparse; the incremental reads only dirty chunks', async () => {
  await withDir(async (dir) => {
    const store = await createStore(path.join(dir, 'store'));
    const img = path.join(dir, 'disk.img');
    const original = await makeImage(img);
    const src = await fileDiskSource(img);
    const progress: number[] = [];
    const m1 = await store.runBackup('vm1', { guest: { kind: 'vm' } }, async (w) => {
      await w.addDisk('root', src, { onProgress: (p) => progress.push(p.done) });
    });
    assert.equal(progress.at(-1), original.length);
    const idx = await store.readFixedIndex('vm1', m1.id, 'root');
    assert.equal(idx.chunks.length, 5);
    assert.deepEqual(idx.chunks.map((c) => c === zeroId), [false, true, false, true, false]);
    assert.deepEqual(m1.guest, { kind: 'vm' });

    const out = path.join(dir, 'restored.img');
    await store.restoreDisk('vm1', m1.id, 'root', out);
    assert.ok((await readFile(out)).equals(original));
    const st = await stat(out);
    assert.ok(st.blocks * 512 < 11 * MiB, `chunks 1 and 3 are holes (${st.blocks * 512} bytes allocated)`);

    // write into chunk 3 (a hole before), tell the writer only chunk 3 is dirty
    const fh = await open(img, 'r+');
    const patch = randomBytes(1000);
    await fh.write(patch, 0, patch.length, 12 * MiB + 5);
    await fh.close();
    const reads: number[] = [];
    const counting: DiskSource = { size: src.size, read: (o, l) => (reads.push(o / (4 * MiB)), src.read(o, l)) };
    const m2 = await store.runBackup('vm1', {}, async (w) => {
      await w.addDisk('root', counting, { previous: { group: 'vm1', id: m1.id }, dirty: [3] });
    });
    await src.close();
    assert.deepEqual(reads, [3]);
    assert.equal(m2.indexes[0]!.chunksNew, 1);
    assert.ok(m2.bytesStored < 4.1 * MiB, `the incremental stored one chunk (${m2.bytesStored})`);
    await store.restoreDisk('vm1', m2.id, 'root', out);
    const expected = Buffer.from(original);
    patch.copy(expected, 12 * MiB + 5);
    assert.ok((await readFile(out)).equals(expected));
  });
});

test('a truncated or garbled index, or a garbled manifest, is a clear error', async () => {
  await withDir(async (dir) => {
    const store = await createStore(path.join(dir, 'store'));
    const img = path.join(dir, 'disk.img');
    await writeFile(img, randomBytes(MiB));
    const src = await fileDiskSource(img);
    const m = await store.runBackup('vm1', {}, (w) => w.addDisk('root', src).then(() => undefined));
    await src.close();
    const bdir = store.backupDir('vm1', m.id);
    const idxFile = path.join(bdir, 'root.fidx');
    const good = await readFile(idxFile);
    await writeFile(idxFile, good.subarray(0, 40));
    await assert.rejects(store.restoreDisk('vm1', m.id, 'root', path.join(dir, 'o')), (e: Error) => e.message.includes(idxFile) && /damaged/.test(e.message));
    const garbled = Buffer.from(good);
    garbled[30]! ^= 0xff;
    await writeFile(idxFile, garbled);
    await assert.rejects(store.readFixedIndex('vm1', m.id, 'root'), (e: Error) => e.message.includes(idxFile) && /damaged/.test(e.message));
    const manifest = path.join(bdir, 'manifest.json');
    await writeFile(manifest, (await readFile(manifest, 'utf8')).slice(0, 50));
    await assert.rejects(store.readManifest('vm1', m.id), (e: Error) => e.message.includes(manifest) && /damaged/.test(e.message));
  });
});
