/**
 * Images own the bases made from them for guests, on real engines: the id-shifted rootfs of
 * containers (and a privileged container's copy), the ext4 disk of pv guests, the qcow2 disk
 * of vm guests. The image counts and lists them; a rebuild while a guest of each kind exists
 * leaves each booting over the base it was made over (exec after a restart sees the version it
 * was made from), with a lodged killed in between, while new guests get the new version's
 * bases; the old version (kept aside, counted) and its bases go with the last guest made from
 * them, and the rest with the image.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GuestsPost } from '../../src/api/guests.js';
import { formatSize } from '../../src/api/sizes.js';
import { guestPid, requireProgram, TestDaemon } from './harness.js';

const d = new TestDaemon();
const images = () => path.join(d.stateDir, 'images');
const du = (file: string) => Number(execFileSync('du', ['-s', '-B1', file]).toString().split('\t')[0]);
/** What the first version's content takes, as recorded when it was built. */
let contentBytes = 0;

before(async () => {
  requireProgram('/usr/bin/linux.uml', 'user-mode-linux');
  requireProgram('/usr/bin/qemu-system-x86_64', 'qemu-system-x86');
  await d.start();
  await d.buildBusybox();
  contentBytes = (await d.client.images.get('busybox')).sizeBytes;
  assert.equal(contentBytes, du(path.join(images(), 'busybox/rootfs')), 'a new image is its content alone');
  // a mark in the first version, which a rebuild does not have: what a guest reads says which version it boots
  writeFileSync(path.join(images(), 'busybox/rootfs/etc/lodge-version'), 'first\n');
});
after(() => d.cleanup());

/** A guest of each kind, and a privileged container, as launched before the rebuild (1) and after (2). */
const guests = (n: 1 | 2): Array<Pick<GuestsPost, 'name' | 'kind' | 'options'>> => [
  { name: `ct${n}`, kind: 'ct' },
  { name: `priv${n}`, kind: 'ct', options: { privileged: true } },
  { name: `pv${n}`, kind: 'pv' },
  { name: `vm${n}`, kind: 'vm' },
];

/** What the guest's /etc/lodge-version says, once it has booted far enough to exec (a vm under TCG: 10-20 s). */
async function versionSeen(name: string): Promise<string> {
  const end = Date.now() + 120_000;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const r = await d.client.guests.exec(name, { command: ['sh', '-c', 'cat /etc/lodge-version 2>/dev/null || echo rebuilt'] });
      if (r.exitCode === 0) return r.stdout.trim();
      last = r.stderr;
    } catch (e) {
      last = e;
    }
    await sleep(1000);
  }
  throw new Error(`exec in ${name} never worked: ${String(last)}`);
}

/** The image base a running guest boots over, as its engine has it. */
async function baseOf(name: string): Promise<string> {
  const g = await d.client.guests.get(name);
  if (g.kind === 'ct') {
    const root = readFileSync(`/proc/${await guestPid(d, name)}/mountinfo`, 'utf8').split('\n').find((l) => l.split(' ')[4] === '/')!;
    return /(?:^|,)lowerdir=([^,]+)/.exec(root.split(' - ')[1]!.split(' ')[2]!)![1]!;
  }
  if (g.kind === 'pv') {
    const ubd0 = readFileSync(`/proc/${await guestPid(d, name)}/cmdline`, 'utf8').split('\0').find((a) => a.startsWith('ubd0='))!;
    return ubd0.split(',')[1]!;
  }
  const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', path.join(g.root!.path, 'root.qcow2')]).toString()) as { 'backing-filename': string };
  return info['backing-filename'];
}

const identity = (file: string) => {
  const st = statSync(file);
  return { ino: st.ino, mtimeMs: st.mtimeMs, size: st.size, mode: st.mode & 0o7777 };
};

/** Each guest's base before the rebuild, and its file's identity then. */
const before1 = new Map<string, { base: string; identity: ReturnType<typeof identity> }>();

test('the bases its guests boot over are the image\'s: listed with it, read-only, counted in its size', { timeout: 300_000 }, async () => {
  for (const g of guests(1)) await d.launch(g.name, { ...g, networks: [] });
  for (const g of guests(1)) assert.equal(await versionSeen(g.name), 'first', g.name);
  const image = await d.client.images.get('busybox');
  assert.equal(image.bases.length, 4, 'a shifted copy, a privileged copy, an ext4 and a qcow2 disk');
  for (const b of image.bases) {
    assert.equal(path.dirname(b.path), path.join(images(), 'busybox'));
    assert.equal(b.current, true);
    assert.equal(b.sizeBytes, du(b.path), `${b.path} counts what it takes on the host`);
  }
  for (const g of guests(1)) {
    const base = await baseOf(g.name);
    assert.ok(image.bases.some((b) => b.path === base), `${g.name} boots over one of the image's bases (${base})`);
    before1.set(g.name, { base, identity: identity(base) });
  }
  assert.equal(new Set([...before1.values()].map((b) => b.base)).size, 4, 'a base of its own per kind of use');
  for (const name of ['pv1', 'vm1']) assert.equal(before1.get(name)!.identity.mode, 0o444, `${name}'s base is read-only`);
  assert.equal(image.derivedBytes, image.bases.reduce((s, b) => s + b.sizeBytes, 0));
  assert.equal(image.earlierBytes, 0);
  assert.equal(image.sizeBytes, contentBytes + image.derivedBytes, 'its size is its content and its bases');
  assert.match(d.lodge(['image', 'list']).stdout, new RegExp(`^busybox\\s+rootfs\\s+${formatSize(image.sizeBytes).replace('.', '\\.')}\\s`, 'm'));
});

test('a rebuild while they exist: each keeps booting over its base after a restart, new guests get the new version\'s', { timeout: 600_000 }, async () => {
  await d.done(await d.client.images.build({ name: 'busybox' }));
  let image = await d.client.images.get('busybox');
  assert.deepEqual(image.bases.map((b) => [b.path, b.current]).sort(), [...before1.values()].map((b) => [b.base, false]).sort(), 'the old bases stay, no longer current');
  // and so does the old content, aside, for what its guests may still need made from it
  const earlier = readdirSync(path.join(images(), 'busybox')).filter((f) => f.startsWith('rootfs.version-'));
  assert.equal(earlier.length, 1);
  assert.equal(readFileSync(path.join(images(), 'busybox', earlier[0]!, 'etc/lodge-version'), 'utf8'), 'first\n');
  assert.equal(image.earlierBytes, du(path.join(images(), 'busybox', earlier[0]!)));
  assert.equal(image.sizeBytes, du(path.join(images(), 'busybox/rootfs')) + image.derivedBytes + image.earlierBytes);
  // what lodged knows of versions outlives it
  await d.kill9();
  await d.start();
  for (const g of guests(2)) await d.launch(g.name, { ...g, networks: [] });
  for (const g of guests(1)) assert.equal(d.lodge(['restart', g.name]).code, 0, g.name);
  for (const g of guests(1)) {
    assert.equal(await versionSeen(g.name), 'first', `${g.name} boots the version it was made from`);
    assert.equal(await baseOf(g.name), before1.get(g.name)!.base);
    assert.deepEqual(identity(before1.get(g.name)!.base), before1.get(g.name)!.identity, `${g.name}'s base is untouched`);
  }
  image = await d.client.images.get('busybox');
  for (const g of guests(2)) {
    assert.equal(await versionSeen(g.name), 'rebuilt', `${g.name} boots the new version`);
    const base = await baseOf(g.name);
    assert.ok(image.bases.some((b) => b.path === base && b.current), `${g.name} boots over a base of the new version (${base})`);
  }
  assert.equal(image.bases.length, 8);
  assert.equal(image.derivedBytes, image.bases.reduce((s, b) => s + b.sizeBytes, 0));
});

test('the old bases go with the last guest made from them; the image goes with its bases, once no guest uses it', { timeout: 300_000 }, async () => {
  const refused = d.lodge(['image', 'delete', 'busybox']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /cannot delete image busybox: guests use it \(ct1, ct2, priv1, priv2, pv1, pv2, vm1, vm2\)/);
  for (const g of guests(1)) assert.equal(d.lodge(['delete', '--force', g.name]).code, 0, g.name);
  for (const { base } of before1.values()) assert.ok(!existsSync(base), `${base} went with its last guest`);
  const image = await d.client.images.get('busybox');
  assert.deepEqual(image.bases.map((b) => b.current), [true, true, true, true]);
  assert.equal(image.earlierBytes, 0);
  assert.deepEqual(readdirSync(path.join(images(), 'busybox')).sort(), ['rootfs', ...image.bases.map((b) => path.basename(b.path))].sort(), 'the earlier version went too');
  for (const g of guests(2)) assert.equal(d.lodge(['delete', '--force', g.name]).code, 0, g.name);
  assert.equal(d.lodge(['image', 'delete', 'busybox']).code, 0);
  assert.ok(!existsSync(path.join(images(), 'busybox')), 'its directory, bases and all, is gone');
});
