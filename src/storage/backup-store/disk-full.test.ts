import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../lib/exec.js';
import { paths } from './format.js';
import { createStore } from './store.js';

const MiB = 1024 * 1024;

test('the store filling up in the middle of a backup loses nothing: the earlier backup verifies and restores, the failed one leaves no trace', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lodge-bs-'));
  const mnt = path.join(dir, 'small');
  await mkdir(mnt);
  // an 8 MiB filesystem for the store (mounting needs root, as lodged runs)
  await run(['mount', '-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
  try {
    const store = await createStore(path.join(mnt, 'store'));
    const first = path.join(dir, 'first');
    const second = path.join(dir, 'second');
    await mkdir(first);
    await mkdir(second);
    await writeFile(path.join(first, 'data'), randomBytes(3 * MiB));
    await writeFile(path.join(second, 'data'), randomBytes(12 * MiB));
    const ok = await store.runBackup('g', {}, (w) => w.addTree('t', first).then(() => undefined));
    await assert.rejects(
      store.runBackup('g', {}, (w) => w.addTree('t', second).then(() => undefined)),
      (e: Error) => /ENOSPC|short write/.test(e.message),
    );
    assert.deepEqual((await store.listBackups('g')).map((b) => [b.id, b.finished]), [[ok.id, true]], 'the failed backup left no directory');
    const chunkDirs = await readdir(paths.chunks(store.root));
    const leftovers = (await Promise.all(chunkDirs.map((d) => readdir(path.join(paths.chunks(store.root), d))))).flat().filter((n) => n.includes('.tmp-'));
    assert.deepEqual(leftovers, []);
    assert.deepEqual(await readdir(paths.locks(store.root)), [], 'the failed writer released its lock');
    const report = await store.verify();
    assert.ok(report.ok, JSON.stringify(report));
    const out = path.join(dir, 'out');
    await store.restoreTree('g', ok.id, 't', out);
    assert.deepEqual(await readFile(path.join(out, 'data')), await readFile(path.join(first, 'data')));
  } finally {
    await run(['umount', mnt], { allowFailure: true });
    await rm(dir, { recursive: true, force: true });
  }
});
