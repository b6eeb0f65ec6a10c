import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { baseFile, bytesOnHost, isBaseFile, legacyContent, makeBase, sweepTemporaries, type Derivation } from './derived.js';

const shifted: Derivation = { as: 'shifted', offset: 1_000_000 };
const ext4: Derivation = { as: 'ext4', key: 'a1b2c3d4e5f6', additions: {} };
const qcow2: Derivation = { as: 'qcow2' };

/** A small rootfs in a fresh directory: a setuid file of root's, a link, a directory of another owner's. */
function scratch(t: { after: (fn: () => void) => void }): { dir: string; rootfs: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-derived-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const rootfs = path.join(dir, 'rootfs');
  mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  mkdirSync(path.join(rootfs, 'home/user'), { recursive: true });
  writeFileSync(path.join(rootfs, 'bin/su'), 'su');
  chmodSync(path.join(rootfs, 'bin/su'), 0o4755);
  symlinkSync('/bin/su', path.join(rootfs, 'bin/link'));
  chownSync(path.join(rootfs, 'home/user'), 1000, 1000);
  writeFileSync(path.join(rootfs, 'home/user/notes'), 'mine');
  return { dir, rootfs };
}

test('a base is named by the version of the content and the derivation it is made from, and nothing else', () => {
  const names = ['v1', 'v2'].flatMap((v) => [shifted, { as: 'shifted', offset: 0 } as Derivation, ext4, { ...ext4, key: 'ffffffffffff' }, qcow2].map((d) => baseFile(v, d)));
  assert.equal(new Set(names).size, names.length, 'every version and derivation has a name of its own');
  assert.equal(baseFile('v1', ext4), baseFile('v1', { ...ext4, additions: { 'lib/modules': '/elsewhere' } }), 'the key names the additions');
  assert.match(baseFile('v1', shifted), /^rootfs\.shifted-[0-9a-f]{12}$/);
  assert.match(baseFile('v1', ext4), /^rootfs\.uml-[0-9a-f]{12}\.ext4$/);
  assert.match(baseFile('v1', qcow2), /^rootfs\.vm-[0-9a-f]{12}\.qcow2$/);
  // the bases of images made before versions keep the names their guests know them by
  assert.deepEqual([shifted, ext4, qcow2].map((d) => baseFile(legacyContent, d)), ['rootfs.shifted-1000000', 'rootfs.uml-a1b2c3d4e5f6.ext4', 'rootfs.qcow2']);
  for (const name of [...names, 'rootfs.ext4', 'rootfs.qcow2', 'rootfs.shifted-1000000']) assert.ok(isBaseFile(name), name);
  for (const name of ['rootfs', 'disk.qcow2', 'image.iso', 'rootfs+new', 'rootfs+old-v1', `${baseFile('v1', ext4)}+making-12`, 'rootfs.uml-x.ext4']) assert.ok(!isBaseFile(name), name);
  assert.ok(isBaseFile(baseFile('v1', ext4), 'ext4') && !isBaseFile(baseFile('v1', qcow2), 'ext4'), 'by derivation too');
  assert.throws(() => baseFile('v1', { as: 'ext4', key: '../x', additions: {} }), /not a derivation/);
  assert.throws(() => baseFile('v1', { as: 'shifted', offset: -1 }), /not a derivation/);
});

test('an id-shifted base: every owner moved up, setuid kept, the source untouched; offset 0 is a plain copy', async (t) => {
  const { dir, rootfs } = scratch(t);
  const target = path.join(dir, baseFile('v1', shifted));
  const bytes = await makeBase(rootfs, shifted, target);
  assert.equal(bytes, await bytesOnHost(target));
  assert.ok(bytes > 0);
  const owner = (p: string) => `${lstatSync(p).uid}:${lstatSync(p).gid}`;
  assert.equal(owner(target), '1000000:1000000');
  assert.equal(owner(path.join(target, 'bin/link')), '1000000:1000000');
  assert.equal(owner(path.join(target, 'home/user/notes')), '1000000:1000000');
  assert.equal(owner(path.join(target, 'home/user')), '1001000:1001000');
  assert.equal(statSync(path.join(target, 'bin/su')).mode & 0o7777, 0o4755);
  assert.equal(owner(path.join(rootfs, 'bin/su')), '0:0');
  const plain = path.join(dir, baseFile('v1', { as: 'shifted', offset: 0 }));
  await makeBase(rootfs, { as: 'shifted', offset: 0 }, plain);
  assert.equal(owner(path.join(plain, 'home/user')), '1000:1000');
  assert.deepEqual(readdirSync(dir).sort(), ['rootfs', path.basename(plain), path.basename(target)].sort(), 'nothing else is left');
});

test('an ext4 base has the additions in it, a qcow2 base holds ext4; both are read-only files', async (t) => {
  const { dir, rootfs } = scratch(t);
  const modules = path.join(dir, 'modules');
  mkdirSync(path.join(modules, '6.1.0'), { recursive: true });
  writeFileSync(path.join(modules, '6.1.0', 'marker'), 'module');
  const disk = path.join(dir, baseFile('v1', ext4));
  await makeBase(rootfs, { ...ext4, additions: { 'lib/modules': modules } }, disk);
  assert.equal(statSync(disk).mode & 0o777, 0o444);
  assert.equal(execFileSync('debugfs', ['-R', 'cat /lib/modules/6.1.0/marker', disk], { stdio: ['ignore', 'pipe', 'ignore'] }).toString(), 'module');
  assert.equal(execFileSync('debugfs', ['-R', 'cat /home/user/notes', disk], { stdio: ['ignore', 'pipe', 'ignore'] }).toString(), 'mine');
  assert.ok((await bytesOnHost(disk)) < statSync(disk).size, 'it counts what it takes, not its sparse size');
  const vm = path.join(dir, baseFile('v1', qcow2));
  await makeBase(rootfs, qcow2, vm);
  assert.equal(statSync(vm).mode & 0o777, 0o444);
  assert.equal((JSON.parse(execFileSync('qemu-img', ['info', '--output=json', vm]).toString()) as { format: string }).format, 'qcow2');
  assert.deepEqual(readdirSync(dir).sort(), ['modules', 'rootfs', path.basename(vm), path.basename(disk)].sort(), 'no staging copy or raw disk is left');
});

test('a base there already is not made again', async (t) => {
  const { dir, rootfs } = scratch(t);
  const target = path.join(dir, baseFile('v1', shifted));
  await makeBase(rootfs, shifted, target);
  const before = statSync(target).ino;
  writeFileSync(path.join(rootfs, 'new-file'), 'later');
  await makeBase(rootfs, shifted, target);
  assert.equal(statSync(target).ino, before);
  assert.ok(!existsSync(path.join(target, 'new-file')));
});

test('a make that fails leaves no base and nothing half-made; what a crash left is swept and never used', async (t) => {
  const { dir, rootfs } = scratch(t);
  const target = path.join(dir, baseFile('v1', ext4));
  await assert.rejects(makeBase(path.join(dir, 'missing'), ext4, target));
  assert.deepEqual(readdirSync(dir), ['rootfs']);
  // a lodged killed while making bases (and an earlier lodged, with its own temporary names)
  const name = path.basename(target);
  const leftovers = [`${name}+making-4242`, `${name}+making-4242.staging`, `${name}+making-4242.raw`, 'rootfs.shifted-1000000.tmp-77', 'rootfs.qcow2.tmp-77', 'rootfs.vm-raw-77', 'rootfs.uml-a1b2c3d4e5f6.ext4.staging-77'];
  for (const l of leftovers) writeFileSync(path.join(dir, l), 'half');
  await makeBase(rootfs, ext4, target);
  assert.notEqual(readFileSync(target).subarray(0, 4).toString(), 'half', 'the base is made whole, not taken from a leftover');
  assert.deepEqual((await sweepTemporaries(dir)).sort(), leftovers.map((l) => `removed ${l}, a base a crash left half-made`).sort());
  assert.deepEqual(readdirSync(dir).sort(), [path.basename(target), 'rootfs'].sort(), 'the content and the base stay');
});

test('a leftover that cannot be removed yet (a killed lodged\'s program still writing it) is said, not fatal, and swept the next time', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-derived-'));
  const held = path.join(dir, 'rootfs.uml-a1b2c3d4e5f6.ext4+making-7.staging');
  mkdirSync(held);
  writeFileSync(path.join(held, 'module.ko'), 'x');
  // an immutable file stands for one that cannot go yet
  execFileSync('chattr', ['+i', path.join(held, 'module.ko')]);
  t.after(() => {
    if (existsSync(held)) execFileSync('chattr', ['-i', path.join(held, 'module.ko')]);
    rmSync(dir, { recursive: true, force: true });
  });
  const [said] = await sweepTemporaries(dir);
  assert.match(said!, /^cannot remove rootfs\.uml-a1b2c3d4e5f6\.ext4\+making-7\.staging, a base a crash left half-made, yet \(.+\); the next start tries again$/);
  execFileSync('chattr', ['-i', path.join(held, 'module.ko')]);
  assert.deepEqual(await sweepTemporaries(dir), ['removed rootfs.uml-a1b2c3d4e5f6.ext4+making-7.staging, a base a crash left half-made']);
});
