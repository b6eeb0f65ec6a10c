import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkTarball, extractTarball, unsafeEntry } from './import.js';

test('entries inside the root are accepted', () => {
  for (const e of [
    { path: 'bin/busybox', type: 'File' },
    { path: 'bin/sh', type: 'SymbolicLink', linkpath: '/bin/busybox' },
    { path: 'usr/bin/env', type: 'SymbolicLink', linkpath: '../../bin/busybox' },
    { path: 'bin/ash', type: 'Link', linkpath: 'bin/busybox' },
    { path: './etc/', type: 'Directory' },
  ]) assert.equal(unsafeEntry(e), undefined, e.path);
});

test('entries that escape the root are named', () => {
  assert.match(unsafeEntry({ path: '/etc/passwd', type: 'File' })!, /absolute path/);
  assert.match(unsafeEntry({ path: '../evil', type: 'File' })!, /"\.\."/);
  assert.match(unsafeEntry({ path: 'a/../../evil', type: 'File' })!, /"\.\."/);
  assert.match(unsafeEntry({ path: 'etc/x', type: 'SymbolicLink', linkpath: '../../etc/shadow' })!, /symbolic link/);
  assert.match(unsafeEntry({ path: 'etc/y', type: 'Link', linkpath: '/etc/shadow' })!, /hard link/);
});

test('extraction keeps absolute symbolic links as they are and leaves device nodes out', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-import-'));
  try {
    // python's tarfile writes a device node without needing one on disk
    execFileSync('python3', ['-c', `
import tarfile, sys
t = tarfile.open(sys.argv[1], 'w')
for name, kind, link in [('etc', tarfile.DIRTYPE, ''), ('etc/mtab', tarfile.SYMTYPE, '/proc/self/mounts'), ('dev', tarfile.DIRTYPE, ''), ('dev/null', tarfile.CHRTYPE, '')]:
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.mode = 0o755 if kind == tarfile.DIRTYPE else 0o666
    if kind == tarfile.CHRTYPE: i.devmajor, i.devminor = 1, 3
    t.addfile(i)
t.close()`, path.join(dir, 'root.tar')]);
    const rootfs = path.join(dir, 'rootfs');
    mkdirSync(rootfs);
    await checkTarball(path.join(dir, 'root.tar'));
    await extractTarball(path.join(dir, 'root.tar'), rootfs);
    assert.equal(readlinkSync(path.join(rootfs, 'etc/mtab')), '/proc/self/mounts');
    assert.deepEqual(readdirSync(path.join(rootfs, 'dev')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
