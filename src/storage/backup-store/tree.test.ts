import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, link, lstat, mkdir, open, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { run } from '../../lib/exec.js';
import { decodeEntry, encodeEntry } from './catalog.js';
import { createStore } from './store.js';
import { restoreTree } from './tree-restore.js';
import { withDir } from './temp-dir.test-support.js';
import { entries, entry } from './catalog.test-support.js';

const MiB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;

/** A tree with what a hostile guest can put in one. */
async function hostileTree(root: string): Promise<void> {
  await mkdir(path.join(root, 'etc/deep/er'), { recursive: true });
  await writeFile(path.join(root, 'etc/hosts'), '127.0.0.1 localhost\n');
  await writeFile(path.join(root, 'etc/deep/er/small'), randomBytes(3000));
  await writeFile(path.join(root, 'name\nwith newline'), 'nl');
  await writeFile(Buffer.concat([Buffer.from(`${root}/not-utf8-`), Buffer.from([0xe9, 0xff])]), 'bytes');
  await writeFile(path.join(root, 'big'), randomBytes(3 * MiB));
  await symlink('/etc/passwd', path.join(root, 'abs-link'));
  await symlink('../../..', path.join(root, 'etc/up'));
  await link(path.join(root, 'etc/hosts'), path.join(root, 'hosts-hardlink'));
  await run(['mkfifo', path.join(root, 'fifo')]);
  if (isRoot) await run(['mknod', path.join(root, 'null'), 'c', '1', '3']);
  const sparse = await open(path.join(root, 'sparse'), 'w');
  await sparse.truncate(64 * MiB);
  await sparse.write(Buffer.from('end'), 0, 3, 64 * MiB - 3);
  await sparse.close();
  await writeFile(path.join(root, 'empty'), '');
  await chmod(path.join(root, 'etc/deep'), 0o500);
  await chmod(path.join(root, 'etc/hosts'), 0o4755);
}

/** What a tree holds, as comparable text: path, type, mode, size, mtime, owner, link target, content digest. */
async function describe(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: Buffer) => {
    const abs = rel.length ? Buffer.concat([Buffer.from(root + '/'), rel]) : Buffer.from(root);
    const st = await lstat(abs, { bigint: true });
    let extra = '';
    if (st.isSymbolicLink()) extra = (await readlink(abs)).toString();
    else if (st.isFile()) extra = (await readFile(abs)).toString('base64').slice(0, 40) + (await readFile(abs)).length;
    else if (st.isCharacterDevice()) extra = String(st.rdev);
    const mtime = st.isSymbolicLink() ? '' : String(st.mtimeNs / 1000n);
    out.push(`${JSON.stringify(rel.toString('latin1'))} mode=${(st.mode & 0o170777n).toString(8)} ${st.uid}:${st.gid} ${mtime} ${extra}`);
    if (st.isDirectory()) for (const n of (await readdir(abs, { encoding: 'buffer' })).sort(Buffer.compare)) await walk(rel.length ? Buffer.concat([rel, Buffer.from('/'), n]) : n);
  };
  await walk(Buffer.alloc(0));
  return out;
}

test('a hostile tree backs up and restores whole: names, links, hardlinks, fifo, device, sparse file, modes, owners, mtimes', async () => {
  await withDir(async (dir) => {
    const src = path.join(dir, 'src');
    await mkdir(src);
    await hostileTree(src);
    const store = await createStore(path.join(dir, 'store'));
    const m = await store.runBackup('ct1', {}, async (w) => {
      await w.addTree('rootfs', src);
    });
    const info = m.indexes[0]!;
    assert.ok(info.bytesStored < 4 * MiB, `the 64 MiB sparse file's zeros are not stored (${info.bytesStored})`);
    const out = path.join(dir, 'out');
    const r = await store.restoreTree('ct1', m.id, 'rootfs', out);
    assert.deepEqual(r.skipped, []);
    assert.deepEqual(await describe(out), await describe(src));
    assert.ok((await lstat(path.join(out, 'sparse'))).blocks * 512 < 8 * MiB, 'the sparse file is restored sparse');
    assert.equal((await lstat(path.join(out, 'hosts-hardlink'))).ino, (await lstat(path.join(out, 'etc/hosts'))).ino);
    await assert.rejects(store.restoreTree('ct1', m.id, 'rootfs', out), /is not empty/);

    const part = path.join(dir, 'part');
    const p = await store.restoreTree('ct1', m.id, 'rootfs', part, { files: ['etc/deep', 'big'] });
    assert.deepEqual((await readdir(part)).sort(), ['big', 'etc']);
    assert.deepEqual(await readdir(path.join(part, 'etc')), ['deep']);
    assert.deepEqual(await readFile(path.join(part, 'etc/deep/er/small')), await readFile(path.join(src, 'etc/deep/er/small')));
    assert.equal(p.entries, 6);
  });
});

test('an unchanged file is not read again; a changed one is', async () => {
  await withDir(async (dir) => {
    const src = path.join(dir, 'src');
    await mkdir(src);
    await writeFile(path.join(src, 'a'), randomBytes(2 * MiB));
    await writeFile(path.join(src, 'b'), randomBytes(2 * MiB));
    await writeFile(path.join(src, 'c'), 'small');
    const store = await createStore(path.join(dir, 'store'));
    const m1 = await store.runBackup('g', {}, (w) => w.addTree('t', src).then(() => undefined));
    await writeFile(path.join(src, 'b'), randomBytes(2 * MiB));
    const m2 = await store.runBackup('g', {}, (w) => w.addTree('t', src, { previous: { group: 'g', id: m1.id } }).then(() => undefined));
    assert.equal(m2.bytesRead, 2 * MiB);
    const out = path.join(dir, 'out');
    await store.restoreTree('g', m2.id, 't', out);
    for (const f of ['a', 'b', 'c']) assert.deepEqual(await readFile(path.join(out, f)), await readFile(path.join(src, f)));
  });
});


test('a tampered catalog cannot write outside the target', async () => {
  for (const bad of ['../escape', '/abs', 'a/../../x', 'a//b', './a']) {
    assert.throws(() => decodeEntry(encodeEntry(entry(bad, 'file')).trim(), 'catalog line 2'), /catalog line 2 is damaged: path/);
  }
  assert.throws(() => decodeEntry(encodeEntry(entry('h', 'hardlink', { target: Buffer.from('../../etc/shadow') })).trim(), 'x'), /hardlink target leaves the tree/);
  await withDir(async (dir) => {
    const store = await createStore(path.join(dir, 'store'));
    const outside = path.join(dir, 'outside');
    await mkdir(outside);
    // a symlink to outside, then a file "through" it
    await assert.rejects(
      restoreTree(store.chunks, entries([entry('', 'dir'), entry('l', 'symlink', { target: Buffer.from(outside) }), entry('l/pwned', 'file')]), path.join(dir, 't1')),
      /"l\/pwned" is not inside a directory this restore created/,
    );
    // a path given twice: the second does not replace the first
    await assert.rejects(restoreTree(store.chunks, entries([entry('', 'dir'), entry('x', 'symlink', { target: Buffer.from(outside) }), entry('x', 'dir')]), path.join(dir, 't2')), /EEXIST/);
    await assert.rejects(restoreTree(store.chunks, entries([entry('', 'dir'), entry('x', 'symlink', { target: Buffer.from(`${outside}/f`) }), entry('x', 'file')]), path.join(dir, 't3')), /EEXIST/);
    assert.deepEqual(await readdir(outside), []);
  });
});

test('a socket in the tree is recorded and skipped on restore with a reason', async () => {
  await withDir(async (dir) => {
    const src = path.join(dir, 'src');
    await mkdir(src);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(path.join(src, 'sock'), resolve));
    try {
      const store = await createStore(path.join(dir, 'store'));
      const m = await store.runBackup('g', {}, (w) => w.addTree('t', src).then(() => undefined));
      const r = await store.restoreTree('g', m.id, 't', path.join(dir, 'out'));
      assert.deepEqual(r.skipped.map((s) => s.path), ['sock']);
    } finally {
      server.close();
    }
  });
});
