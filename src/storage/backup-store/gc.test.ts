import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { paths } from './format.js';
import { createStore, type BackupStore } from './store.js';
import { withDir } from './temp-dir.test-support.js';

const MiB = 1024 * 1024;
const hour = 3_600_000;

async function chunkFiles(store: BackupStore): Promise<string[]> {
  const root = paths.chunks(store.root);
  const out: string[] = [];
  for (const d of await readdir(root)) for (const f of await readdir(path.join(root, d))) out.push(path.join(root, d, f));
  return out.sort();
}

/** Makes every chunk file look a day old, as if gc ran a day after the backups. */
async function age(store: BackupStore): Promise<void> {
  const then = new Date(Date.now() - 24 * hour);
  for (const f of await chunkFiles(store)) await utimes(f, then, then);
}

test('gc removes what no backup references and keeps what a running writer reuses', async () => {
  await withDir(async (dir) => {
    const store = await createStore(path.join(dir, 'store'));
    const keep = path.join(dir, 'keep');
    const drop = path.join(dir, 'drop');
    await mkdir(keep);
    await mkdir(drop);
    await writeFile(path.join(keep, 'k'), randomBytes(2 * MiB));
    await writeFile(path.join(drop, 'd'), randomBytes(2 * MiB));
    const kept = await store.runBackup('g', {}, (w) => w.addTree('t', keep).then(() => undefined));
    const dropped = await store.runBackup('h', {}, (w) => w.addTree('t', drop).then(() => undefined));
    await store.deleteBackup('h', dropped.id);
    // a crashed writer's backup, and a crashed chunk write
    const crashed = path.join(paths.group(store.root, 'h'), '2020-01-01T00-00-00.000Z');
    await mkdir(crashed);
    await utimes(crashed, new Date(Date.now() - hour), new Date(Date.now() - hour));
    const someDir = path.dirname((await chunkFiles(store))[0]!);
    await writeFile(path.join(someDir, 'x.tmp-abc'), 'partial');
    await age(store);
    await utimes(path.join(someDir, 'x.tmp-abc'), new Date(Date.now() - hour), new Date(Date.now() - hour));

    // a writer that began before gc and reuses a chunk of the deleted backup while gc runs
    const w = await store.beginBackup('h');
    await w.addTree('t', drop);
    const r = await store.gc();
    assert.ok(r.cutoff <= Date.now() - 5 * 60_000);
    assert.equal(r.removedChunks, 0, 'the running writer touched what it reuses');
    assert.deepEqual(r.removedUnfinished, ['h/2020-01-01T00-00-00.000Z']);
    assert.equal(r.removedTemps, 1);
    assert.ok((await stat(w.dir)).isDirectory(), "the running writer's backup stays");
    await w.abort();

    const before = (await chunkFiles(store)).length;
    await age(store);
    const r2 = await store.gc();
    assert.ok(r2.removedChunks > 0);
    assert.equal((await chunkFiles(store)).length, before - r2.removedChunks);
    assert.equal(r2.missingChunks.length, 0);
    assert.ok((await store.verify()).ok);
    const out = path.join(dir, 'out');
    await store.restoreTree('g', kept.id, 't', out);
    assert.deepEqual(await readFile(path.join(out, 'k')), await readFile(path.join(keep, 'k')));
  });
});

test('verify names the backups a damaged chunk breaks; an unaffected backup still restores; gc refuses to sweep past an unreadable backup', async () => {
  await withDir(async (dir) => {
    const store = await createStore(path.join(dir, 'store'), { encryptionKey: randomBytes(32) });
    const shared = randomBytes(MiB);
    for (const g of ['a', 'b']) {
      await mkdir(path.join(dir, g));
      await writeFile(path.join(dir, g, 'shared'), shared);
    }
    await writeFile(path.join(dir, 'b', 'own'), randomBytes(MiB));
    const a = await store.runBackup('a', {}, (w) => w.addTree('t', path.join(dir, 'a')).then(() => undefined));
    const b = await store.runBackup('b', {}, (w) => w.addTree('t', path.join(dir, 'b')).then(() => undefined));
    const cat = store.catalog('b', b.id, 't');
    let own = '';
    for await (const e of await cat) if (e.path.toString() === 'own') own = e.data![0]![0]!;
    const file = store.chunks.pathOf(own);
    const bytes = await readFile(file);
    bytes[bytes.length - 100]! ^= 0x40;
    await writeFile(file, bytes);

    const report = await store.verify();
    assert.equal(report.ok, false);
    assert.deepEqual(report.damaged.map((d) => [d.chunk, d.backups]), [[own, [`b/${b.id}`]]]);
    assert.deepEqual(report.broken.map((x) => x.backup), [`b/${b.id}`]);
    await store.restoreTree('a', a.id, 't', path.join(dir, 'ra'));
    assert.deepEqual(await readFile(path.join(dir, 'ra', 'shared')), shared);
    await assert.rejects(store.restoreTree('b', b.id, 't', path.join(dir, 'rb')), (e: Error) => e.message.includes(own));

    await writeFile(path.join(store.backupDir('a', a.id), 't.cidx'), 'garbage');
    await assert.rejects(store.gc(), new RegExp(`backup a/${a.id} cannot be read`));
    assert.deepEqual((await store.verify()).broken.map((x) => x.backup), [`a/${a.id}`, `b/${b.id}`]);
  });
});

test('prune deletes the manifests of what the policy does not keep; the maintenance lock refuses a second holder', async () => {
  await withDir(async (dir) => {
    const store = await createStore(path.join(dir, 'store'));
    const src = path.join(dir, 'src');
    await mkdir(src);
    await writeFile(path.join(src, 'f'), 'x');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await store.runBackup('g', {}, (w) => w.addTree('t', src).then(() => undefined))).id);
    const lease = await store.locks.maintenance('test');
    await assert.rejects(store.prune('g', { keepLast: 1 }), /busy: test by pid/);
    await lease.release();
    const r = await store.prune('g', { keepLast: 1 });
    assert.deepEqual(r.removed, ids.slice(0, 2));
    assert.deepEqual((await store.listBackups('g')).map((b) => b.id), [ids[2]]);
  });
});
