/**
 * Storage pools, on real btrfs and ext4: the first start makes the pool `default` and
 * says why; every guest's root is a volume of a pool, held to a size by default, so a
 * guest that writes past it gets ENOSPC or EDQUOT while the host and its neighbours go
 * on; pools on a directory, on a file and on a block device; what a guest's delete and a
 * pool's delete leave (nothing); bad requests refused with the field named.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LodgeError } from '../../src/api/errors.js';
import { requireProgram, TestDaemon } from './harness.js';

const mib = 1024 * 1024;
const d = new TestDaemon();
/** Loop devices this file attached, detached at the end whatever happens. */
const loops: string[] = [];

before(async () => {
  requireProgram('mkfs.btrfs', 'btrfs-progs');
  await d.start();
  await d.buildBusybox();
});
after(async () => {
  await d.cleanup();
  for (const dev of loops) spawnSync('losetup', ['-d', dev]);
});

const run = (name: string, script: string) => d.client.guests.exec(name, { command: ['sh', '-c', script] });
const refused = (code: string, message: RegExp) => (e: unknown) => e instanceof LodgeError && e.code === code && message.test(e.message);

/** A block device of `bytes` for the test: a loop device over a sparse file in the daemon's directory. */
function loopDevice(name: string, bytes: number): string {
  const file = path.join(d.dir, `${name}.img`);
  execFileSync('truncate', ['-s', String(bytes), file]);
  const dev = execFileSync('losetup', ['-f', '--show', file]).toString().trim();
  loops.push(dev);
  return dev;
}

test('the first start makes the pool default, btrfs on a sparse file, and says which and why', async () => {
  const host = await d.client.host();
  assert.equal(host.storage?.defaultPool, 'default');
  assert.match(host.storage!.reason, /^btrfs/);
  const pool = await d.client.storage.get('default');
  assert.equal(pool.driver, 'btrfs');
  assert.equal(pool.default, true);
  assert.ok(pool.totalBytes >= 4 * 1024 * mib, `at least about 5G (${pool.totalBytes})`);
  const file = statSync(pool.source);
  assert.ok(file.blocks * 512 < file.size / 20, 'the file is sparse: it takes what guests write');
  const cli = d.lodge(['storage', 'list']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /^default\s+btrfs\s+\S+default\.btrfs\s+.*\s1?0?\s*yes$/m);
  assert.match(cli.stderr, /The default pool is default: btrfs/);
  assert.match(d.lodge(['host']).stdout, /Storage: .*pool default/);
});

test('lodged --default-pool-driver dir makes the first default pool a dir pool, and says so; a driver it does not know stops it', async () => {
  const dir = new TestDaemon({ args: ['--default-pool-driver', 'dir'] });
  try {
    await dir.start();
    const host = await dir.client.host();
    assert.deepEqual(host.storage, { defaultPool: 'default', reason: 'dir, as lodged was told (--default-pool-driver) when it made it' });
    assert.equal((await dir.client.storage.get('default')).driver, 'dir');
  } finally {
    await dir.cleanup();
  }
  const bad = new TestDaemon({ args: ['--default-pool-driver', 'zfs'] });
  try {
    await assert.rejects(bad.start(), /--default-pool-driver: "zfs" is not dir or btrfs/);
  } finally {
    await bad.cleanup();
  }
});

test('a container launched without --disk is held to its pool\'s size: past it the guest gets EDQUOT, the host and its neighbour go on', async () => {
  await d.client.storage.create({ name: 'small', driver: 'btrfs', size: '1G', volumeSize: '64M' });
  await d.launch('filler', { pool: 'small', networks: [] });
  await d.launch('neighbour', { networks: [] });
  const filler = await d.client.guests.get('filler');
  assert.deepEqual({ pool: filler.root?.pool, size: filler.root?.sizeBytes }, { pool: 'small', size: 64 * mib });
  const fill = await run('filler', 'dd if=/dev/zero of=/big bs=1M count=200 2>&1; sync');
  assert.match(fill.stdout, /Disk quota exceeded/);
  const used = (await d.client.guests.get('filler')).root!.usedBytes!;
  assert.ok(used >= 50 * mib && used <= 64 * mib, `it holds about its size (${used})`);
  assert.equal((await run('filler', 'rm /big && echo room >/after && cat /after')).stdout, 'room\n', 'it goes on once it frees space');
  assert.equal((await run('neighbour', 'dd if=/dev/zero of=/f bs=1M count=100 2>/dev/null && echo wrote')).stdout, 'wrote\n');
  assert.match(d.lodge(['info', 'filler']).stdout, /Root:\s+64M in storage pool small, /);
  await assert.rejects(d.client.storage.delete('small'), refused('CONFLICT', /holds the root of filler: delete it first/));
});

test('a dir pool holds each container root in an ext4 file of its size: past it ENOSPC; after a reboot its start mounts it again; its delete leaves nothing', async () => {
  const pool = await d.client.storage.create({ name: 'plain', driver: 'dir', volumeSize: '64M' });
  assert.equal(pool.path, path.join(d.stateDir, 'storage', 'plain'));
  await d.launch('c-dir', { pool: 'plain', networks: [] });
  const fill = await run('c-dir', 'dd if=/dev/zero of=/big bs=1M count=200 2>&1');
  assert.match(fill.stdout, /No space left on device/);
  const volumes = path.join(pool.path, 'guests');
  const [volume] = readdirSync(volumes).filter((f) => !f.endsWith('.ext4'));
  assert.ok(d.mounts().includes(path.join(volumes, volume!)), 'its volume is mounted');
  // a host reboot: the guest stopped, its volume unmounted
  await d.done(await d.client.guests.changeState('c-dir', { action: 'stop', force: true }));
  execFileSync('umount', [path.join(volumes, volume!)]);
  await d.done(await d.client.guests.changeState('c-dir', { action: 'start' }));
  assert.match((await run('c-dir', 'ls /big && echo kept')).stdout, /kept/);
  await d.done(await d.client.guests.delete('c-dir', true));
  assert.deepEqual(readdirSync(volumes), [], 'its volume and its file are gone');
  assert.deepEqual(d.mounts().filter((m) => m.startsWith(pool.path)), []);
  await d.client.storage.delete('plain');
  assert.equal(existsSync(pool.path), false);
});

test('a btrfs pool on a block device: a pv guest\'s COW disk lives in its volume; the device is formatted once, never twice', async () => {
  const dev = loopDevice('disk', 2048 * mib);
  const pool = await d.client.storage.create({ name: 'dev', driver: 'btrfs', source: dev });
  assert.equal(pool.source, dev);
  assert.ok(d.poolMounts().includes(pool.path));
  await assert.rejects(d.client.storage.create({ name: 'dev2', driver: 'btrfs', source: dev }), refused('CONFLICT', /holds another storage pool/));
  // a device with a filesystem on it is never wiped
  const used = loopDevice('used', 256 * mib);
  execFileSync('mkfs.ext4', ['-q', used]);
  await assert.rejects(d.client.storage.create({ name: 'used', driver: 'btrfs', source: used }), refused('ENGINE_FAILED', /making the btrfs pool used/));
  assert.equal((await d.client.storage.list()).some((p) => p.name === 'used'), false);
  assert.equal(execFileSync('blkid', ['-o', 'value', '-s', 'TYPE', used]).toString().trim(), 'ext4');

  await d.launch('p-dev', { kind: 'pv', pool: 'dev', networks: [] });
  const g = await d.client.guests.get('p-dev');
  assert.equal(g.root?.pool, 'dev');
  assert.equal((await run('p-dev', 'echo in-pool > /f && cat /f')).stdout, 'in-pool\n');
  const [volume] = readdirSync(path.join(pool.path, 'guests'));
  assert.ok(existsSync(path.join(pool.path, 'guests', volume!, 'root.cow')), 'UML writes its COW file in its root volume');
  await d.done(await d.client.guests.delete('p-dev', true));
  assert.deepEqual(readdirSync(path.join(pool.path, 'guests')), []);
  await d.client.storage.delete('dev');
  assert.equal(d.poolMounts().includes(pool.path), false);
});

test('bad pool requests name the field and make nothing', async () => {
  const file = path.join(d.dir, 'plain-file');
  writeFileSync(file, 'not a device');
  // the administrator's directory, with something in it
  const full = path.join(d.dir, 'full');
  mkdirSync(full);
  writeFileSync(path.join(full, 'theirs'), '');
  const cases: Array<[Parameters<typeof d.client.storage.create>[0], string, RegExp]> = [
    [{ name: 'p1', driver: 'dir', source: 'relative/dir' }, 'BAD_REQUEST', /^source: relative\/dir is not an absolute path/],
    [{ name: 'p1', driver: 'dir', source: file }, 'BAD_REQUEST', /^source: .* is not a directory/],
    [{ name: 'p1', driver: 'dir', size: '1G' }, 'BAD_REQUEST', /^size: a dir pool has no size/],
    [{ name: 'p1', driver: 'dir', source: full }, 'BAD_REQUEST', /^source: .* is not empty: a dir pool takes a new or empty directory/],
    [{ name: 'p1', driver: 'dir', source: path.join(d.stateDir, 'guests', 'x') }, 'BAD_REQUEST', /^source: .* is inside lodged's state directory/],
    [{ name: 'p1', driver: 'dir', source: path.join(d.stateDir, 'storage', 'default', 'x') }, 'CONFLICT', /^source: .* overlaps storage pool default/],
    [{ name: 'p1', driver: 'dir', source: '/tmp/a,b' }, 'BAD_REQUEST', /^source: \/tmp\/a,b holds a comma or a space/],
    [{ name: 'p1', driver: 'btrfs', source: file }, 'BAD_REQUEST', /^source: .* is not a block device/],
    [{ name: 'p1', driver: 'btrfs', source: '/dev/nosuch' }, 'BAD_REQUEST', /^source: \/dev\/nosuch does not exist/],
    [{ name: 'p1', driver: 'btrfs', size: '12M' }, 'BAD_REQUEST', /^size: 12M is not a size of at least 64M/],
    [{ name: 'p1', driver: 'btrfs', size: '12Q' }, 'BAD_REQUEST', /size/],
    [{ name: 'p1', driver: 'zfs' as 'dir' }, 'BAD_REQUEST', /driver/],
    [{ name: 'default', driver: 'dir' }, 'CONFLICT', /a storage pool named default exists already/],
  ];
  for (const [body, code, message] of cases) await assert.rejects(d.client.storage.create(body), refused(code, message), JSON.stringify(body));
  assert.deepEqual((await d.client.storage.list()).map((p) => p.name).sort(), ['default', 'small']);
  await assert.rejects(d.client.storage.delete('default'), refused('CONFLICT', /is the default pool/));
  await assert.rejects(d.client.storage.get('nosuch'), refused('NOT_FOUND', /storage pool nosuch not found/));
  await assert.rejects(d.client.guests.launch({ name: 'lost', image: 'busybox', pool: 'nosuch' }), refused('NOT_FOUND', /^pool: storage pool nosuch not found/));
  assert.equal((await d.client.guests.list()).some((g) => g.name === 'lost'), false);
});

test('a guest\'s delete removes its root volume; the pool is whole again', async () => {
  const before = readdirSync(path.join(d.stateDir, 'storage', 'small', 'guests'));
  await d.done(await d.client.guests.delete('filler', true));
  assert.equal(readdirSync(path.join(d.stateDir, 'storage', 'small', 'guests')).length, before.length - 1);
  await d.client.storage.delete('small');
  assert.equal(existsSync(path.join(d.stateDir, 'storage', 'small.btrfs')), false);
});

test('what a lodged killed while making a pool left in its storage directory is removed at the next start', async () => {
  await d.stop();
  const storage = path.join(d.stateDir, 'storage');
  mkdirSync(path.join(storage, 'ghost'));
  writeFileSync(path.join(storage, 'ghost.btrfs'), 'half a pool');
  await d.start();
  assert.deepEqual(readdirSync(storage).sort(), ['default', 'default.btrfs']);
  assert.match(d.stderr, /removing .*ghost\.btrfs: no pool has it/);
  assert.equal((await d.client.storage.get('default')).default, true, 'the known pool is untouched');
});
