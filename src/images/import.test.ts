import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TarChecker, checkTarball, extractTarball, limitsFor, nulInLongName, type TarEntry } from './import.js';

/** The verdict on one entry alone, as a message. */
const unsafeEntry = (entry: TarEntry) => new TarChecker().check(entry)?.why;

/** The first refusal of a checker fed `entries` in order, as a message. */
const verdict = (entries: TarEntry[], checker = new TarChecker()) => {
  for (const e of entries) {
    const r = checker.check(e);
    if (r) return r.why;
  }
  return undefined;
};

test('entries inside the root are accepted', () => {
  assert.equal(
    verdict([
      { path: 'bin/busybox', type: 'File', size: 10 },
      { path: 'bin/sh', type: 'SymbolicLink', linkpath: '/bin/busybox' },
      { path: 'usr/bin/env', type: 'SymbolicLink', linkpath: '../../bin/busybox' },
      { path: 'bin/ash', type: 'Link', linkpath: 'bin/busybox' },
      { path: './etc/', type: 'Directory' },
      { path: './etc/passwd', type: 'File' },
      { path: 'dev/null', type: 'CharacterDevice' },
      { path: 'run/initctl', type: 'FIFO' },
      { path: 'bin/sh', type: 'SymbolicLink', linkpath: 'busybox' },
    ]),
    undefined,
  );
});

test('entries that escape the root are named', () => {
  assert.match(unsafeEntry({ path: '/etc/passwd', type: 'File' })!, /absolute path \/etc\/passwd/);
  assert.match(unsafeEntry({ path: '../evil', type: 'File' })!, /"\.\." \.\.\/evil/);
  assert.match(unsafeEntry({ path: 'a/../../evil', type: 'File' })!, /"\.\."/);
  assert.match(unsafeEntry({ path: 'etc/x', type: 'SymbolicLink', linkpath: '../../etc/shadow' })!, /symbolic link etc\/x to \.\.\/\.\.\/etc\/shadow outside the root/);
  assert.match(unsafeEntry({ path: 'etc/y', type: 'Link', linkpath: '/etc/shadow' })!, /hard link etc\/y to \/etc\/shadow outside the root/);
  assert.match(unsafeEntry({ path: 'etc/y', type: 'Link', linkpath: '../etc/shadow' })!, /hard link etc\/y to \.\.\/etc\/shadow outside the root/);
});

test('an entry under a symbolic link an earlier entry made is refused, through chains and any spelling', () => {
  assert.equal(verdict([{ path: 'etc', type: 'SymbolicLink', linkpath: '/host/dir' }, { path: 'etc/x', type: 'File' }]), 'entry etc/x is under the symbolic link etc that an earlier entry made');
  assert.match(verdict([{ path: './a/b', type: 'SymbolicLink', linkpath: '../c' }, { path: 'a//b/./x', type: 'File' }])!, /entry a\/\/b\/\.\/x is under the symbolic link a\/b/);
  // a chain: l1 -> l2 -> /host; l1/x is refused at l1 already
  assert.match(verdict([{ path: 'l2', type: 'SymbolicLink', linkpath: '/host' }, { path: 'l1', type: 'SymbolicLink', linkpath: 'l2' }, { path: 'l1/sub/x', type: 'Directory' }])!, /under the symbolic link l1/);
  // a symbolic link made under another is refused too
  assert.match(verdict([{ path: 'l', type: 'SymbolicLink', linkpath: '/' }, { path: 'l/etc', type: 'SymbolicLink', linkpath: 'x' }])!, /entry l\/etc is under the symbolic link l/);
  // a directory entry over a link would chmod through it
  assert.match(verdict([{ path: 'etc', type: 'SymbolicLink', linkpath: '/host' }, { path: 'etc/', type: 'Directory' }])!, /entry etc\/ would replace the symbolic link/);
  // a hard link to a symbolic link is a symbolic link
  assert.match(verdict([{ path: 's', type: 'SymbolicLink', linkpath: '/host' }, { path: 'h', type: 'Link', linkpath: 's' }, { path: 'h/x', type: 'File' }])!, /under the symbolic link h/);
});

test('a hard link through a symbolic link, or to a name no entry made, is refused', () => {
  assert.equal(
    verdict([{ path: 'etc', type: 'SymbolicLink', linkpath: '/etc' }, { path: 'stolen', type: 'Link', linkpath: 'etc/shadow' }]),
    'hard link stolen to etc/shadow passes through the symbolic link etc',
  );
  assert.equal(verdict([{ path: 'stolen', type: 'Link', linkpath: 'etc/shadow' }]), 'hard link stolen to etc/shadow, which no earlier entry made');
});

test('NUL bytes and names longer than Linux allows are refused', () => {
  assert.match(unsafeEntry({ path: 'a\0b', type: 'File' })!, /name "a\\u0000b" contains a NUL byte/);
  assert.match(unsafeEntry({ path: 'a/'.repeat(2100), type: 'File' })!, /is longer than 4095 bytes/);
  assert.match(unsafeEntry({ path: `d/${'x'.repeat(256)}`, type: 'File' })!, /has a component longer than 255 bytes/);
  assert.match(unsafeEntry({ path: 'l', type: 'SymbolicLink', linkpath: 'a\0b' })!, /symbolic link l has a target with a NUL byte/);
  assert.match(unsafeEntry({ path: 'h', type: 'Link', linkpath: 'x\0y' })!, /contains a NUL byte/);
});

test('a NUL inside a pax path or a GNU long name is found, and a binary xattr is no name', () => {
  assert.equal(nulInLongName('17 path=bin/a\0b\n'), 'bin/a\0b');
  assert.equal(nulInLongName('30 mtime=1\n21 linkpath=x\0/../y\n'), 'x\0/../y');
  assert.equal(nulInLongName('usr/lib/a-long-name\0b\0\0'), 'usr/lib/a-long-name\0b');
  assert.equal(nulInLongName('usr/lib/a-long-name\0\0\0'), undefined);
  assert.equal(nulInLongName('50 SCHILY.xattr.security.capability=\x01\0\0\x02\n12 path=ok\n'), undefined);
});

test('types Lodge does not import are refused', () => {
  assert.match(unsafeEntry({ path: 'big', type: 'SparseFile' })!, /entry big is of a type Lodge does not import \(SparseFile\)/);
});

test('an entry over the entry cap, a total over the total cap and too many entries are refused', () => {
  const limits = { entries: 3, entryBytes: 100, totalBytes: 250 };
  assert.equal(verdict([{ path: 'bomb', type: 'File', size: 101 }], new TarChecker(limits)), 'entry bomb is 101 bytes, over the 100 bytes cap of one entry');
  assert.match(verdict([1, 2, 3].map((i) => ({ path: `f${i}`, type: 'File', size: 100 })), new TarChecker(limits))!, /^the entries up to f3 hold 300 bytes, over the 250 bytes cap of a whole tarball/);
  assert.equal(verdict([1, 2, 3, 4].map((i) => ({ path: `d${i}`, type: 'Directory' })), new TarChecker(limits)), 'entry d4 is one more than the 3 entries a tarball may have');
  assert.deepEqual(limitsFor(10 * 2 ** 40), { entries: 2_000_000, entryBytes: 16 * 2 ** 30, totalBytes: 256 * 2 ** 30 });
  assert.deepEqual(limitsFor(1000), { entries: 2_000_000, entryBytes: 16 * 2 ** 30, totalBytes: 900 });
});

test('extraction keeps absolute symbolic links, owners and modes, and leaves device nodes and FIFOs out', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-import-'));
  try {
    // python's tarfile writes a device node without needing one on disk
    execFileSync('python3', ['-c', `
import tarfile, sys, io
t = tarfile.open(sys.argv[1], 'w:gz')
for name, kind, link, mode, uid in [('etc', tarfile.DIRTYPE, '', 0o755, 0), ('etc/mtab', tarfile.SYMTYPE, '/proc/self/mounts', 0o777, 0), ('dev', tarfile.DIRTYPE, '', 0o755, 0),
    ('dev/null', tarfile.CHRTYPE, '', 0o666, 0), ('dev/fifo', tarfile.FIFOTYPE, '', 0o666, 0), ('su', tarfile.REGTYPE, '', 0o4755, 0), ('home', tarfile.REGTYPE, '', 0o600, 1000), ('su2', tarfile.LNKTYPE, 'su', 0, 0), ('l' * 150, tarfile.SYMTYPE, '/' + 'x' * 150, 0o777, 0)]:
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.mode = mode; i.uid = i.gid = uid
    if kind == tarfile.CHRTYPE: i.devmajor, i.devminor = 1, 3
    t.addfile(i)
t.close()`, path.join(dir, 'root.tar.gz')]);
    const rootfs = path.join(dir, 'rootfs');
    mkdirSync(rootfs);
    await checkTarball(path.join(dir, 'root.tar.gz'));
    const helper = fileURLToPath(new URL('../../shim/lodge-unpack', import.meta.url));
    await extractTarball(path.join(dir, 'root.tar.gz'), rootfs, { helper, busybox: '/bin/busybox' });
    assert.equal(readlinkSync(path.join(rootfs, 'etc/mtab')), '/proc/self/mounts');
    assert.equal(readlinkSync(path.join(rootfs, 'l'.repeat(150))), `/${'x'.repeat(150)}`, 'a pax name and link target');
    assert.deepEqual(readdirSync(path.join(rootfs, 'dev')), []);
    const ls = execFileSync('stat', ['-c', '%n %a %u %h', 'su', 'home', 'su2'], { cwd: rootfs, encoding: 'utf8' });
    assert.equal(ls, 'su 4755 0 2\nhome 600 1000 1\nsu2 4755 0 2\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
