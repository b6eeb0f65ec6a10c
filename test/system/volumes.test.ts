/**
 * Volumes on real engines, what is not the same in every kind: one volume goes from container
 * to container with its files, owned by the guest's root and held to its size; a pv guest
 * takes one on its command line and gives it back root's; a filesystem a guest's kernel wrote
 * is never mounted on the host; a volume stays when its guest goes; bad requests name the
 * field. (Attached at rest and live in every kind: conformance.ts; a vm's disk serial: vm.test.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { LodgeError } from '../../src/api/errors.js';
import { guestPid, requireProgram, TestDaemon } from './harness.js';

const d = new TestDaemon();
before(async () => {
  requireProgram('/usr/bin/linux.uml', 'user-mode-linux');
  await d.start();
  await d.buildBusybox();
});
after(() => d.cleanup());

const run = (name: string, script: string) => d.client.guests.exec(name, { command: ['sh', '-c', script] });
const refused = (code: string, message: RegExp) => (e: unknown) => e instanceof LodgeError && e.code === code && message.test(e.message);
const state = (name: string, action: 'start' | 'stop') => d.client.guests.changeState(name, { action, ...(action === 'stop' ? { force: true } : {}) }).then((op) => d.done(op));

test('a volume goes from container to container with its files, holds to its size, and stays when its guest goes', async () => {
  const v = await d.client.volumes.create({ name: 'data', size: '128M' });
  assert.deepEqual({ pool: v.pool, size: v.sizeBytes, attached: v.attachedTo }, { pool: 'default', size: 128 * 1024 * 1024, attached: undefined });
  await d.launch('c1', { networks: [], start: false });
  const cli = d.lodge(['volume', 'attach', 'data', 'c1', '/srv/data']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stderr, /volume data is attached to c1 at \/srv\/data/);
  assert.deepEqual((await d.client.guests.get('c1')).volumes, [{ name: 'data', path: '/srv/data' }]);
  assert.match(d.lodge(['info', 'c1']).stdout, /^Volumes:\s+data at \/srv\/data$/m);
  await state('c1', 'start');
  assert.equal((await run('c1', 'echo kept > /srv/data/file && id -u && stat -c %u /srv/data')).stdout, '0\n0\n', "the guest's root owns it");
  assert.match((await run('c1', 'dd if=/dev/zero of=/srv/data/big bs=1M count=200 2>&1; rm /srv/data/big')).stdout, /No space left on device/);
  await d.client.volumes.create({ name: 'more', size: '64M' });
  await assert.rejects(d.client.volumes.delete('data'), refused('CONFLICT', /volume data is attached to c1: detach it first/));
  await state('c1', 'stop');
  await d.client.volumes.detach('c1', 'data');
  await d.launch('c2', { networks: [], start: false });
  await d.client.volumes.attach('c2', { volume: 'data', path: '/mnt/x/' });
  await state('c2', 'start');
  assert.equal((await run('c2', 'cat /mnt/x/file')).stdout, 'kept\n');
  await d.done(await d.client.guests.delete('c2', true));
  const kept = await d.client.volumes.get('data');
  assert.equal(kept.attachedTo, undefined, 'its guest went, the volume stays');
  assert.deepEqual(d.mounts(), [], 'no mount of it is left');
  await d.client.volumes.delete('data');
  assert.match(d.lodge(['volume', 'list']).stdout, /^more\s+default\s+64M\s*$/m);
});

test('a pv guest takes a volume on its command line at boot, and gives it back root\'s; no container can have it afterwards', async () => {
  await d.launch('p1', { kind: 'pv', networks: [], start: false });
  await d.client.volumes.create({ name: 'pvdata', size: '64M' });
  const v = await d.client.volumes.attach('p1', { volume: 'pvdata' });
  assert.equal(v.attachedTo?.device, '/dev/ubdb');
  await state('p1', 'start');
  assert.ok(readFileSync(`/proc/${await guestPid(d, 'p1')}/cmdline`, 'utf8').split('\0').some((a) => /^ubd1d=\/.*disk\.raw$/.test(a)));
  assert.equal((await run('p1', 'mkdir -p /v && mount /dev/ubdb /v && echo from-pv > /v/f && cat /v/f && umount /v')).stdout, 'from-pv\n');
  await state('p1', 'stop');
  await d.client.volumes.detach('p1', 'pvdata');
  // the guest's UML had the file; it is root's again, and no one else's
  const file = statSync(path.join((await d.client.storage.get('default')).path, 'custom', 'pvdata', 'disk.raw'));
  assert.deepEqual({ uid: file.uid, mode: file.mode & 0o777 }, { uid: 0, mode: 0o600 });
  await d.launch('c3', { networks: [], start: false });
  await assert.rejects(d.client.volumes.attach('c3', { volume: 'pvdata', path: '/data' }), refused('CONFLICT', /has been the disk of a pv or vm guest: the host's kernel does not mount a filesystem a guest's kernel wrote/));
});

test('bad volume requests name the field and change nothing', async () => {
  await d.launch('c4', { networks: [], start: false });
  const cases: Array<[() => Promise<unknown>, string, RegExp]> = [
    [() => d.client.volumes.create({ name: 'more', size: '64M' }), 'CONFLICT', /a volume named more exists already/],
    [() => d.client.volumes.create({ name: 'tiny', size: '1M' }), 'BAD_REQUEST', /^size: 1M is not a size of at least 64M/],
    [() => d.client.volumes.create({ name: 'a-name-longer-than-twenty', size: '64M' }), 'BAD_REQUEST', /name/],
    [() => d.client.volumes.create({ name: 'lost', size: '1G', pool: 'nosuch' }), 'NOT_FOUND', /^pool: storage pool nosuch not found/],
    [() => d.client.volumes.attach('c4', { volume: 'nosuch', path: '/x' }), 'NOT_FOUND', /volume nosuch not found/],
    [() => d.client.volumes.attach('nosuch', { volume: 'more', path: '/x' }), 'NOT_FOUND', /guest nosuch not found/],
    [() => d.client.volumes.attach('c4', { volume: 'more' }), 'BAD_REQUEST', /^path: a ct guest sees a volume mounted at a path/],
    [() => d.client.volumes.attach('c4', { volume: 'more', path: '/' }), 'BAD_REQUEST', /^path: \/ must name a directory below \//],
    [() => d.client.volumes.attach('c4', { volume: 'more', path: '/a/../etc' }), 'BAD_REQUEST', /without \. or \.\./],
    [() => d.client.volumes.attach('c4', { volume: 'more', path: 'relative' }), 'BAD_REQUEST', /path/],
    [() => d.client.volumes.attach('p1', { volume: 'more', path: '/x' }), 'BAD_REQUEST', /^path: a pv guest sees a volume as a disk/],
    [() => d.client.volumes.attach('c4', { volume: 'pvdata', path: '/x' }), 'CONFLICT', /has been the disk of a pv or vm guest/],
    [() => d.client.volumes.detach('c4', 'more'), 'CONFLICT', /volume more is not attached to c4/],
  ];
  for (const [call, code, message] of cases) await assert.rejects(call(), refused(code, message), String(message));
  await d.client.volumes.attach('c4', { volume: 'more', path: '/x' });
  await assert.rejects(d.client.volumes.attach('p1', { volume: 'more' }), refused('CONFLICT', /volume more is attached to c4 already/));
  assert.deepEqual((await d.client.volumes.list()).map((v) => v.name).sort(), ['more', 'pvdata']);
});
