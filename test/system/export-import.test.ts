/**
 * Export and import on real engines: a running container exported by one private lodged
 * and imported by another (which built its own image), booting with its marker; so are a pv
 * and a vm guest, whose disks go over the other host's own version of the image. Hostile archives (not a tar, truncated, a link
 * inside, no manifest, a damaged chunk) get a clear error and leave no guest.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { guestSh, requireProgram, TestDaemon } from './harness.js';

const d = new TestDaemon();
const other = new TestDaemon();
before(async () => {
  requireProgram('/usr/bin/linux.uml', 'user-mode-linux');
  await d.start();
  await other.start();
  await d.buildBusybox();
  await other.buildBusybox();
});
after(async () => {
  await d.cleanup();
  await other.cleanup();
});


const archive = (name: string) => path.join(d.dir, name);

test('a running container exported by one lodged is imported by another and boots with its files', async () => {
  await d.launch('exp', { networks: [] });
  await guestSh(d, 'exp', 'echo exported > /root/marker && mkdir -p /srv/a && ln -s ../../root/marker /srv/a/link && sync');
  const cli = d.lodge(['export', 'exp', archive('exp.lodge')]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal((await d.client.guests.get('exp')).state, 'running');
  const imported = other.lodge(['import', archive('exp.lodge'), 'imp', '--start']);
  assert.equal(imported.code, 0, imported.stderr);
  assert.equal(await guestSh(other, 'imp', 'cat /root/marker /srv/a/link'), 'exported\nexported\n');
  assert.equal(await guestSh(other, 'imp', 'hostname'), 'imp\n');
  // the default name is the exported guest's
  assert.equal(other.lodge(['import', archive('exp.lodge')]).code, 0);
  assert.equal((await other.client.guests.get('exp')).state, 'stopped');
});

test('pv and vm guests exported by one lodged are imported by another: their disks go over its own version of the image', async () => {
  for (const kind of ['pv', 'vm'] as const) {
    const name = `${kind}exp`;
    await d.launch(name, { kind, networks: [], limits: { memory: '128M' } });
    await guestSh(d, name, `echo from-${kind} > /root/marker && sync`);
    assert.equal(d.lodge(['export', name, archive(`${name}.lodge`)]).code, 0);
    const imported = other.lodge(['import', archive(`${name}.lodge`), '--start']);
    assert.equal(imported.code, 0, imported.stderr);
    assert.equal(await guestSh(other, name, 'cat /root/marker'), `from-${kind}\n`);
    await other.done(await other.client.guests.delete(name, true));
    await d.done(await d.client.guests.delete(name, true));
  }
});

test('hostile archives get a clear error and leave no guest', async () => {
  const before = (await other.client.guests.list()).map((g) => g.name).sort();
  const good = readFileSync(archive('exp.lodge'));
  const work = path.join(d.dir, 'hostile');
  mkdirSync(work);
  const cases: Array<[string, () => void, RegExp]> = [
    ['notar', () => writeFileSync(path.join(work, 'notar'), 'this is not an archive\n'.repeat(100)), /cannot be read as a Lodge export|not a Lodge export/],
    ['truncated', () => writeFileSync(path.join(work, 'truncated'), good.subarray(0, Math.floor(good.length / 2))), /cannot be read as a Lodge export|not a whole Lodge export|not a Lodge export/],
    [
      'link',
      () => {
        const dir = path.join(work, 'linkdir');
        mkdirSync(dir);
        writeFileSync(path.join(dir, 'lodge-export.json'), '{}');
        symlinkSync('/etc/passwd', path.join(dir, 'store'));
        execFileSync('tar', ['-cf', path.join(work, 'link'), '-C', dir, 'lodge-export.json', 'store']);
      },
      /store is a SymbolicLink, where only files and directories belong/,
    ],
    [
      'nomanifest',
      () => {
        const dir = path.join(work, 'emptydir');
        mkdirSync(path.join(dir, 'store'), { recursive: true });
        execFileSync('tar', ['-cf', path.join(work, 'nomanifest'), '-C', dir, 'store']);
      },
      /it has no lodge-export.json/,
    ],
    [
      'damaged',
      () => {
        const dir = path.join(work, 'damageddir');
        mkdirSync(dir);
        execFileSync('tar', ['-xf', archive('exp.lodge'), '-C', dir]);
        const chunks: string[] = [];
        const walk = (p: string): void => void readdirSync(p, { withFileTypes: true }).forEach((e) => (e.isDirectory() ? walk(path.join(p, e.name)) : chunks.push(path.join(p, e.name))));
        walk(path.join(dir, 'store', 'chunks'));
        const victim = chunks.sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
        const bytes = readFileSync(victim);
        bytes[bytes.length >> 1]! ^= 0xff;
        writeFileSync(victim, bytes);
        execFileSync('tar', ['-cf', path.join(work, 'damaged'), '-C', dir, 'lodge-export.json', 'store']);
      },
      /chunk|damaged/,
    ],
  ];
  for (const [name, make, message] of cases) {
    make();
    const r = other.lodge(['import', path.join(work, name), `h-${name}`]);
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, message, name);
  }
  assert.deepEqual((await other.client.guests.list()).map((g) => g.name).sort(), before, 'no guest is left by a refused import');
  // an import whose restore failed removes its scratch once its operation has ended: just after
  const left = () => readdirSync(path.join(other.stateDir, 'tmp')).filter((f) => /^(import|guest-import|export)-/.test(f));
  for (const until = Date.now() + 10_000; left().length > 0 && Date.now() < until; ) await sleep(100);
  assert.deepEqual(left(), [], 'nothing is left in the scratch directory');
});

test('an archive of a privileged container imports only with --privileged', async () => {
  await d.launch('priv', { networks: [], start: false, options: { privileged: true } });
  assert.equal(d.lodge(['export', 'priv', archive('priv.lodge')]).code, 0);
  const refused = other.lodge(['import', archive('priv.lodge')]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /the archive is of a privileged container, whose root is the host's root: import it with --privileged/);
  assert.equal(other.lodge(['import', archive('priv.lodge'), '--privileged']).code, 0);
  assert.equal((await other.client.guests.get('priv')).options.privileged, true);
});
