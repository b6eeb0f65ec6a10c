import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { chown, mkdir, readdir, rename, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../lib/exec.js';
import { decodeEntry, encodeEntry, type CatalogEntry } from './catalog.js';
import { createStore } from './store.js';
import { restoreTree } from './tree-restore.js';
import { withDir } from './temp-dir.test-support.js';
import { XattrRecords } from './xattrs.js';
import { entries, entry } from './catalog.test-support.js';

/** Every attribute under `dir`, symlinks' own included, as getfattr prints them (names relative, values in hex), by path. */
async function attrsOf(dir: string): Promise<string> {
  const out = (await run(['getfattr', '--recursive', '--physical', '--no-dereference', '--dump', '--match=-', '--encoding=hex', '.'], { cwd: dir })).stdout;
  return out.split('\n\n').filter(Boolean).sort().join('\n\n');
}

const setAttr = (file: string, name: string, value: string) => run(['setfattr', '--no-dereference', '-n', name, '-v', value, file]);

/** A file capability as a container's root sets it (v3): cap_net_raw effective and permitted, its root id the host's 1000000. */
const capV3 = `0x${['01000003', '00200000', '00000000', '00000000', '00000000', '40420f00'].join('')}`;
/** A name no text can hold: a newline and bytes that are not UTF-8. */
const hostile = Buffer.concat([Buffer.from('name\nwith-'), Buffer.from([0xe9, 0xff])]);

test("a tree's extended attributes are backed up and restored: overlay opaque marks, capabilities, ACLs, user.*, security.* of a symlink itself; other overlay marks are left", async () => {
  await withDir(async (dir) => {
    const src = path.join(dir, 'src');
    const outside = path.join(dir, 'outside');
    await mkdir(path.join(src, 'etc/opaque'), { recursive: true });
    await mkdir(outside);
    await setAttr(src, 'user.of-the-root', 'r');
    await setAttr(path.join(src, 'etc/opaque'), 'trusted.overlay.opaque', 'y');
    await setAttr(path.join(src, 'etc/opaque'), 'trusted.overlay.origin', '0x00fb1a');
    await setAttr(path.join(src, 'etc/opaque'), 'trusted.overlay.impure', 'y');
    await writeFile(path.join(src, 'ping'), 'ELF');
    await run(['setcap', 'cap_net_raw+ep', path.join(src, 'ping')]);
    await writeFile(path.join(src, 'ping-in-ct'), 'ELF');
    await chown(path.join(src, 'ping-in-ct'), 1_000_000, 1_000_000);
    await setAttr(path.join(src, 'ping-in-ct'), 'security.capability', capV3);
    await writeFile(path.join(src, 'shared'), 'acl');
    await run(['setfacl', '-m', 'u:1000033:rw,g:1000004:r', path.join(src, 'shared')]);
    await run(['setfacl', '-d', '-m', 'u:1000033:rwx', path.join(src, 'etc')]);
    await setAttr(path.join(src, 'shared'), 'user.mime_type', 'text/plain');
    // a program's argv is text: the attribute is set under a plain name, then the file renamed
    await writeFile(path.join(src, 'plain'), 'x');
    await setAttr(path.join(src, 'plain'), 'user.\nodd', '0x00ff0a20');
    await rename(path.join(src, 'plain'), Buffer.concat([Buffer.from(`${src}/`), hostile]));
    await setAttr(outside, 'user.outside', 'not to be copied');
    await symlink(outside, path.join(src, 'out-link'));
    await setAttr(path.join(src, 'out-link'), 'security.selinux', 'system_u:object_r:lodge_t');

    const store = await createStore(path.join(dir, 'store'));
    const m = await store.runBackup('ct1', {}, (w) => w.addTree('root', src).then(() => undefined));
    const out = path.join(dir, 'out');
    const r = await store.restoreTree('ct1', m.id, 'root', out);
    assert.deepEqual(r.skipped, []);

    const want = (await attrsOf(src)).replace(/^trusted\.overlay\.(origin|impure)=.*\n/gm, '');
    assert.match(want, /trusted\.overlay\.opaque=0x79/);
    assert.match(want, /# file: \.\nuser\.of-the-root=0x72/);
    assert.equal(await attrsOf(out), want);
    const caps = (await run(['getcap', '-n', path.join(out, 'ping'), path.join(out, 'ping-in-ct')])).stdout;
    assert.match(caps, /ping cap_net_raw=ep\n/);
    assert.match(caps, /ping-in-ct cap_net_raw=ep \[rootid=1000000\]/);
    assert.match((await run(['getfacl', '--omit-header', '--numeric', path.join(out, 'shared')])).stdout, /user:1000033:rw-/);
    assert.match(await attrsOf(out), /# file: out-link\nsecurity\.selinux=/, "the symlink's own label");
    assert.doesNotMatch(await attrsOf(out), /user\.outside/, 'the dump did not follow the symlink');
    assert.match((await run(['getfattr', '--dump', '--match=-', outside])).stdout, /^user\.outside="not to be copied"\n\n?$/m);
    assert.doesNotMatch((await run(['getfattr', '--dump', '--match=-', outside])).stdout, /selinux/, 'the restore did not follow the symlink');
  });
});

test("an incremental backup: a file whose attributes changed is read again (its ctime moved), an unchanged one is reused with its attributes", async () => {
  await withDir(async (dir) => {
    const src = path.join(dir, 'src');
    await mkdir(src);
    const [changed, same] = [path.join(src, 'changed'), path.join(src, 'same')];
    for (const f of [changed, same]) {
      await writeFile(f, randomBytes(100_000));
      await setAttr(f, 'user.a', 'one');
      await setAttr(f, 'user.b', 'two');
    }
    const store = await createStore(path.join(dir, 'store'));
    const m1 = await store.runBackup('g', {}, (w) => w.addTree('t', src).then(() => undefined));
    await setAttr(changed, 'user.a', 'three');
    await run(['setfattr', '-x', 'user.b', changed]);
    const m2 = await store.runBackup('g', {}, (w) => w.addTree('t', src, { previous: { group: 'g', id: m1.id } }).then(() => undefined));
    assert.equal(m2.bytesRead, 100_000, 'only the file whose attributes changed is read again');
    const out = path.join(dir, 'out');
    await store.restoreTree('g', m2.id, 't', out);
    assert.equal(await attrsOf(out), await attrsOf(src));
    assert.match(await attrsOf(out), /# file: changed\nuser\.a=0x7468726565\n\n# file: same\nuser\.a=0x6f6e65\nuser\.b=0x74776f$/);
  });
});


test('catalog attributes: any bytes round-trip, an old catalog without them reads, bad ones are refused', () => {
  const attrs: CatalogEntry['xattrs'] = [
    [Buffer.concat([Buffer.from('user.'), hostile]), Buffer.from([0, 0xff, 0x0a])],
    [Buffer.from('trusted.overlay.opaque'), Buffer.from('y')],
  ];
  const back = decodeEntry(encodeEntry(entry('d', 'dir', { xattrs: attrs })).trim(), 'x');
  assert.deepEqual(back.xattrs, attrs);
  const old = '{"p":"d","t":"dir","m":493,"u":0,"g":0,"mt":"0","ct":"0","s":0,"i":"1"}';
  assert.equal(decodeEntry(old, 'x').xattrs, undefined);
  const bad = (x: unknown) => old.replace('}', `,"x":${JSON.stringify(x)}}`);
  assert.throws(() => decodeEntry(bad([['user.a\u0000b', '']]), 'catalog line 2'), /catalog line 2 is damaged: attribute name .* holds a NUL/);
  assert.throws(() => decodeEntry(bad([['user.a', Buffer.alloc(65537).toString('base64')]]), 'l'), /holds more than 65536 bytes/);
  assert.throws(() => decodeEntry(bad([['user.a']]), 'l'), /not a name and a value/);
  assert.throws(() => decodeEntry(bad('user.a'), 'l'), /x is not a list/);
});

test('restoring attributes never follows a symlink, refuses a name a backup does not keep, and reports what the kernel refuses', async () => {
  await withDir(async (dir) => {
    const store = await createStore(path.join(dir, 'store'));
    const outside = path.join(dir, 'outside');
    await mkdir(outside);
    await writeFile(path.join(outside, 'victim'), '');
    const target = path.join(dir, 't');
    await mkdir(target);
    await symlink(outside, path.join(target, 'l'));
    // a record that leads through a symlink (no catalog of a restore gives one: the helper's own check)
    const through = new XattrRecords();
    through.add(Buffer.from('l/victim'), [[Buffer.from('user.pwned'), Buffer.from('1')]]);
    await assert.rejects(through.apply(target), /l\/victim: a symbolic link on the way/);
    const onLink = new XattrRecords();
    onLink.add(Buffer.from('l'), [[Buffer.from('security.x'), Buffer.from('1')]]);
    await onLink.apply(target);
    assert.equal((await run(['getfattr', '--dump', '--match=-', outside, path.join(outside, 'victim')])).stdout, '', 'nothing set outside');

    await assert.rejects(
      restoreTree(store.chunks, entries([entry('', 'dir'), entry('d', 'dir', { xattrs: [[Buffer.from('trusted.overlay.redirect'), Buffer.from('/etc')]] })]), path.join(dir, 't1')),
      /attribute trusted\.overlay\.redirect is not one a backup keeps/,
    );
    // the kernel takes user.* only on files and directories
    const r = await restoreTree(store.chunks, entries([entry('', 'dir'), entry('fifo', 'fifo', { xattrs: [[Buffer.from('user.a'), Buffer.from('1')]] })]), path.join(dir, 't2'));
    assert.deepEqual(r.skipped, [{ path: 'fifo', why: 'extended attribute user.a not set: Operation not permitted' }]);
    assert.deepEqual(await readdir(path.join(dir, 't2')), ['fifo']);
  });
});

test("an unprivileged container's tree restored with its ids gets nothing that is host root's: setuid outside its ids and capabilities other than its own v3 are left out", async () => {
  await withDir(async (dir) => {
    const src = path.join(dir, 'src');
    await mkdir(src);
    // what a forged backup or archive could hold: a setuid file of host root's, a v2 capability (host root's), a v3 one of another root
    await writeFile(path.join(src, 'suid-root'), 'ELF');
    await run(['chmod', '4755', path.join(src, 'suid-root')]);
    await writeFile(path.join(src, 'v2'), 'ELF');
    await run(['setcap', 'cap_setuid+ep', path.join(src, 'v2')]);
    await writeFile(path.join(src, 'v3-other'), 'ELF');
    await setAttr(path.join(src, 'v3-other'), 'security.capability', `0x${['01000003', '00200000', '00000000', '00000000', '00000000', '00000000'].join('')}`);
    // what the container itself may have: its own setuid file and a capability of its root
    await writeFile(path.join(src, 'suid-own'), 'ELF');
    await chown(path.join(src, 'suid-own'), 1_000_000, 1_000_000);
    await run(['chmod', '4755', path.join(src, 'suid-own')]);
    await writeFile(path.join(src, 'ping-in-ct'), 'ELF');
    await chown(path.join(src, 'ping-in-ct'), 1_000_000, 1_000_000);
    await setAttr(path.join(src, 'ping-in-ct'), 'security.capability', capV3);
    const store = await createStore(path.join(dir, 'store'));
    const m = await store.runBackup('ct1', {}, (w) => w.addTree('root', src).then(() => undefined));
    const out = path.join(dir, 'out');
    await store.restoreTree('ct1', m.id, 'root', out, { ids: { hostId: 1_000_000, size: 65_536 } });
    const mode = async (f: string) => Number((await run(['stat', '-c', '%a', path.join(out, f)])).stdout.trim());
    assert.equal(await mode('suid-root'), 755);
    assert.equal(await mode('suid-own'), 4755);
    // of the three capabilities, only the container's own comes back
    assert.equal(await attrsOf(out), `# file: ping-in-ct\nsecurity.capability=${capV3}`);
  });
});
