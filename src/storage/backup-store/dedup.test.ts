import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { seededBytes } from './seeded-bytes.test-support.js';
import { createStore } from './store.js';

const MiB = 1024 * 1024;

test('the same 48 MiB tree as a second group stores almost nothing; 1 MiB changed in a big file stores a few chunks', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lodge-bs-'));
  try {
    const src = path.join(dir, 'src');
    await mkdir(path.join(src, 'lib'), { recursive: true });
    await writeFile(path.join(src, 'big'), seededBytes('big', 40 * MiB));
    for (let i = 0; i < 200; i++) await writeFile(path.join(src, 'lib', `f${i}`), seededBytes(`f${i}`, 20_000 + i * 100));
    await writeFile(path.join(src, 'mid'), seededBytes('mid', 3 * MiB));
    const store = await createStore(path.join(dir, 'store'));
    const a = await store.runBackup('guest-a', {}, (w) => w.addTree('rootfs', src).then(() => undefined));
    assert.ok(a.bytesStored > 47 * MiB, `the first backup stored the data (${a.bytesStored})`);
    const b = await store.runBackup('guest-b', {}, (w) => w.addTree('rootfs', src).then(() => undefined));
    assert.equal(b.bytesRead, a.bytesRead, 'the second group had no previous backup: it read everything');
    assert.ok(b.bytesStored < 64 * 1024, `the same tree in another group stored almost nothing (${b.bytesStored})`);

    const fh = await open(path.join(src, 'big'), 'r+');
    await fh.write(seededBytes('change', MiB), 0, MiB, 20 * MiB);
    await fh.close();
    const c = await store.runBackup('guest-a', {}, (w) => w.addTree('rootfs', src, { previous: { group: 'guest-a', id: a.id } }).then(() => undefined));
    assert.equal(c.bytesRead, 40 * MiB, 'only the changed file was read');
    // the changed megabyte's chunks and the catalog's (the data is seeded: where the cuts fall is the same in every run)
    assert.ok(c.indexes[0]!.chunksNew <= 10, `a few new chunks (${c.indexes[0]!.chunksNew})`);
    // the chunks around the change (about a MiB each, a few MiB now and then): a quarter of the first is far above what they take
    assert.ok(c.bytesStored < 12 * MiB, `a small fraction of the first (${c.bytesStored} of ${a.bytesStored})`);

    const out = path.join(dir, 'out');
    await store.restoreTree('guest-a', c.id, 'rootfs', out);
    assert.deepEqual(await readFile(path.join(out, 'big')), await readFile(path.join(src, 'big')));
    assert.deepEqual(await readFile(path.join(out, 'lib/f199')), await readFile(path.join(src, 'lib/f199')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
