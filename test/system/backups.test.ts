/**
 * Backups on real engines: a running guest of each kind backed up, written to, backed up
 * again (the second adds a small fraction of the first to the store), both backups restored
 * into new guests that boot with the marker of their point in time; on both pool types.
 * A store whose chunk is damaged: verify names the backups it breaks. A lodged killed in
 * the middle of a backup: its next start leaves no snapshot, and the next backup is whole.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LodgeError } from '../../src/api/errors.js';
import type { GuestKind } from '../../src/api/common.js';
import { guestSh, requireProgram, TestDaemon } from './harness.js';

const d = new TestDaemon({ netns: true });
let storeDir = '';
before(async () => {
  requireProgram('/usr/bin/linux.uml', 'user-mode-linux');
  requireProgram('/usr/bin/qemu-system-x86_64', 'qemu-system-x86');
  await d.start();
  await d.buildBusybox();
  await d.client.storage.create({ name: 'plain', driver: 'dir' });
  storeDir = path.join(d.dir, 'backups');
  const cli = d.lodge(['backup-store', 'create', 'local', storeDir]);
  assert.equal(cli.code, 0, cli.stderr);
});
after(() => d.cleanup());

const refused = (code: string, message: RegExp) => (e: unknown) => e instanceof LodgeError && e.code === code && message.test(e.message);


async function backUp(name: string) {
  await d.done(await d.client.backups.create(name, {}), 300);
  return (await d.client.backups.list('local', name)).filter((b) => b.finished).at(-1)!;
}

const cases: Array<{ kind: GuestKind; pool: string }> = [
  { kind: 'ct', pool: 'default' },
  { kind: 'ct', pool: 'plain' },
  { kind: 'pv', pool: 'default' },
];

for (const { kind, pool } of cases) {
  test(`${kind} on a ${pool === 'default' ? 'btrfs' : 'dir'} pool: two backups of a running guest, the second small, each restored into a guest that boots with its marker`, async () => {
    const name = `b-${kind}-${pool}`;
    await d.launch(name, { kind, pool, networks: [], ...(kind === 'ct' ? {} : { limits: { memory: '128M' } }) });
    await guestSh(d, name, 'echo one > /root/marker && dd if=/dev/urandom of=/root/data bs=1M count=8 2>/dev/null && sync');
    // a directory of the image made again: only its opaque mark (an extended attribute) hides the image's
    if (kind === 'ct') await guestSh(d, name, 'rm -rf /etc/acpi && mkdir /etc/acpi && echo mine > /etc/acpi/only && sync');
    const first = await backUp(name);
    await guestSh(d, name, 'echo two > /root/marker && sync');
    const second = await backUp(name);
    assert.equal((await d.client.guests.get(name)).state, 'running');
    assert.ok(first.storedBytes! > 8 * 1024 * 1024, `the first backup stores the guest's data (${first.storedBytes} bytes)`);
    assert.ok(second.storedBytes! < first.storedBytes! / 4, `the second stores a small fraction of the first (${second.storedBytes} of ${first.storedBytes} bytes)`);
    assert.equal(second.settings?.kind, kind);
    // a pv guest's disk is read whole the first time, then only the chunks its COW file marks (now or at the first)
    if (kind === 'pv') assert.ok(second.readBytes! < first.readBytes! / 3, `the second reads a small part of the disk (${second.readBytes} of ${first.readBytes} bytes)`);

    for (const [backup, marker] of [[first, 'one'], [second, 'two']] as const) {
      const copy = `${name}-${marker}`;
      const cli = d.lodge(['backup', 'restore', name, backup.id, '--as', copy, '--start']);
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(await guestSh(d, copy, 'cat /root/marker'), `${marker}\n`);
      assert.equal(await guestSh(d, copy, 'md5sum < /root/data'), await guestSh(d, name, 'md5sum < /root/data'));
      assert.equal(await guestSh(d, copy, 'hostname'), `${copy}\n`);
      if (kind === 'ct') assert.equal(await guestSh(d, copy, 'ls -A /etc/acpi'), 'only\n');
      await d.done(await d.client.guests.delete(copy, true));
    }
    await d.done(await d.client.guests.delete(name, true));
  });
}

test('vm on a dir pool: after the first backup only the chunks its dirty bitmap marks are read, running, after a stateful snapshot and a restart, and stopped; each backup restores into a guest that boots with its marker', async () => {
  const name = 'b-vm';
  const MiB = 1024 * 1024;
  await d.launch(name, { kind: 'vm', pool: 'plain', networks: [], limits: { memory: '128M' } });
  await guestSh(d, name, 'echo one > /root/marker && dd if=/dev/urandom of=/root/data bs=1M count=64 2>/dev/null && sync');
  const md5 = await guestSh(d, name, 'md5sum < /root/data');
  const first = await backUp(name);
  assert.ok(first.readBytes! >= 64 * MiB && first.storedBytes! >= 64 * MiB, `the first backup reads and stores the whole disk's data (${first.readBytes} read)`);
  const little = (b: typeof first, when: string) => assert.ok(b.readBytes! <= 24 * MiB, `${when}: only the chunks written since are read (${b.readBytes} bytes)`);
  await guestSh(d, name, 'echo two > /root/marker && sync');
  const second = await backUp(name);
  little(second, 'running');
  // a stateful snapshot migrates the machine out and back in: the bitmap goes through with it
  await d.done(await d.client.snapshots.create(name, { name: 'live', stateful: true }), 300);
  // the bitmap is in the qcow2 file: it outlives its QEMU
  await d.done(await d.client.guests.changeState(name, { action: 'stop' }), 120);
  await d.done(await d.client.guests.changeState(name, { action: 'start' }), 120);
  await guestSh(d, name, 'echo three > /root/marker && sync');
  const third = await backUp(name);
  little(third, 'after a restart');
  await d.done(await d.client.guests.changeState(name, { action: 'stop' }), 120);
  const fourth = await backUp(name);
  little(fourth, 'stopped');
  assert.equal((await d.client.guests.get(name)).state, 'stopped');

  for (const [backup, marker] of [[second, 'two'], [fourth, 'three']] as const) {
    const copy = `${name}-${marker}`;
    const cli = d.lodge(['backup', 'restore', name, backup.id, '--as', copy, '--start']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(await guestSh(d, copy, 'cat /root/marker'), `${marker}\n`);
    assert.equal(await guestSh(d, copy, 'md5sum < /root/data'), md5);
    await d.done(await d.client.guests.delete(copy, true));
  }
  await d.done(await d.client.guests.delete(name, true));
});

test('list, info, prune, gc and refusals; a damaged chunk: verify names the backups it breaks, and the CLI exits 1', async () => {
  const all = await d.client.backups.list('local');
  assert.ok(all.length >= 8 && all.every((b) => b.finished));
  const info = d.lodge(['backup', 'info', all[0]!.guest, all[0]!.id]);
  assert.match(info.stdout, /^New in store:\s+\S+/m);
  assert.equal(d.lodge(['backup', 'verify']).code, 0);

  await assert.rejects(d.client.backups.create('nosuch', {}), refused('NOT_FOUND', /guest nosuch not found/));
  await assert.rejects(d.client.backups.addStore({ name: 'local', path: '/tmp/x' }), refused('CONFLICT', /a backup store named local exists already/));
  await assert.rejects(d.client.backups.addStore({ name: 'inside', path: path.join(storeDir, 'chunks') }), refused('CONFLICT', /overlaps backup store local/));
  await assert.rejects(d.client.backups.restore('local', all[0]!.guest, '2020-01-01T00-00-00.000Z', {}), refused('NOT_FOUND', /does not exist/));

  // the largest chunk is the guests' random data: every backup of a guest uses it
  const chunks: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) e.isDirectory() ? walk(path.join(dir, e.name)) : chunks.push(path.join(dir, e.name));
  };
  walk(path.join(storeDir, 'chunks'));
  const victim = chunks.sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
  const bytes = readFileSync(victim);
  bytes[bytes.length >> 1]! ^= 0xff;
  writeFileSync(victim, bytes);
  const verify = d.lodge(['backup', 'verify', '--format', 'json']);
  assert.equal(verify.code, 1);
  const report = JSON.parse(verify.stdout) as { ok: boolean; damaged: Array<{ chunk: string; backups: string[] }> };
  assert.equal(report.ok, false);
  assert.equal(report.damaged.length, 1);
  assert.ok(report.damaged[0]!.backups.length >= 1, 'it names the backups it breaks');

  const guest = all[0]!.guest;
  const pruned = d.lodge(['backup', 'prune', guest, '--keep-last', '1']);
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.match(pruned.stderr, /kept 1, deleted 1/);
  assert.equal((await d.client.backups.list('local', guest)).length, 1);
  assert.equal(d.lodge(['backup', 'gc']).code, 0);
});

test('a lodged killed in the middle of a backup: at its next start no snapshot is left, the guest runs, no finished backup appears, and the next backup is whole', async () => {
  await d.launch('bk', { networks: [] });
  await guestSh(d, 'bk', 'dd if=/dev/urandom of=/root/big bs=1M count=300 2>/dev/null && sync');
  const op = await d.client.backups.create('bk', {});
  for (let i = 0; i < 200 && (await d.client.operations.get(op.id)).step !== 'backing up its root volume'; i++) await sleep(25);
  await sleep(300);
  await d.kill9();
  await d.start();
  const snapshots = path.join((await d.client.storage.get('default')).path, 'snapshots', 'guests');
  const left = existsSync(snapshots) ? readdirSync(snapshots).flatMap((g) => readdirSync(path.join(snapshots, g))) : [];
  assert.deepEqual(left, [], 'the snapshot of the backup is gone');
  assert.equal((await d.client.guests.get('bk')).state, 'running');
  assert.equal((await d.client.operations.get(op.id)).status, 'failure');
  assert.ok((await d.client.backups.list('local', 'bk')).every((b) => !b.finished), 'no finished backup of it');
  const second = await backUp('bk');
  assert.ok(second.sizeBytes! >= 300 * 1024 * 1024);
});

test('schedules: lodged snapshots and backs a guest up every 10s, keeping the last one of each; --off ends them', async () => {
  await d.launch('sched', { networks: [] });
  let cli = d.lodge(['snapshot', 'schedule', 'sched', '--every', '10s', '--keep', '1']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stderr, /sched: a snapshot every 10s, the first at /);
  cli = d.lodge(['backup', 'schedule', 'sched', '--every', '10s', '--keep-last', '1']);
  assert.equal(cli.code, 0, cli.stderr);
  await assert.rejects(d.client.schedules.snapshots('sched', { every: '5s', keep: 1 }), refused('BAD_REQUEST', /every: 5s is not an interval of at least 10s/));
  await assert.rejects(d.client.schedules.backups('sched', { every: '1m' }), refused('BAD_REQUEST', /say what to keep/));
  await assert.rejects(d.client.snapshots.create('sched', { name: 'auto-mine' }), refused('BAD_REQUEST', /names starting with auto- are those of scheduled snapshots/));
  // two runs of each: the second's prune leaves one
  const deadline = Date.now() + 90_000;
  const ran = async () => (await d.client.operations.list()).filter((o) => o.target === 'sched' && o.status === 'success' && (o.action === 'snapshot.create' || o.action === 'backup.create'));
  while ((await ran()).length < 4 && Date.now() < deadline) await sleep(1000);
  await sleep(1000);
  const autos = (await d.client.snapshots.list('sched')).map((s) => s.name);
  assert.equal(autos.length, 1, `the last snapshot is kept (${autos.join(', ')})`);
  assert.ok(autos.every((n) => /^auto-\d{8}-\d{6}$/.test(n)));
  assert.equal((await d.client.backups.list('local', 'sched')).filter((b) => b.finished).length, 1);
  await assert.rejects(d.client.backups.removeStore('local'), refused('CONFLICT', /where the backup schedules of sched write/));
  const shown = d.lodge(['backup', 'schedule', 'sched']);
  assert.match(shown.stdout, /^Last run:\s+\S+: ok$/m);
  assert.equal(d.lodge(['snapshot', 'schedule', 'sched', '--off']).code, 0);
  assert.equal(d.lodge(['backup', 'schedule', 'sched', '--off']).code, 0);
  assert.deepEqual(await d.client.schedules.list('sched'), []);
});

for (const pool of ['default', 'plain']) {
  test(`a backup put back over its stopped guest on a ${pool === 'default' ? 'btrfs' : 'dir'} pool: the guest's root is the backup's, its settings stay; a running guest is refused`, async () => {
    const name = `over-${pool}`;
    await d.launch(name, { pool, networks: [] });
    await guestSh(d, name, 'echo kept > /root/marker && sync');
    const b = await backUp(name);
    await guestSh(d, name, 'echo changed > /root/marker && echo new > /root/extra && sync');
    await assert.rejects(d.client.backups.restore('local', name, b.id, { over: true }), refused('CONFLICT', /it is running; stop it first/));
    await d.client.guests.update(name, { limits: { memory: '300M' } });
    await d.client.guests.changeState(name, { action: 'stop', force: true }).then((op) => d.done(op));
    const cli = d.lodge(['backup', 'restore', name, b.id, '--over', '--start']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stderr, new RegExp(`${name} is put back as backup ${name}/`));
    assert.equal(await guestSh(d, name, 'cat /root/marker; ls /root/extra 2>&1 || true'), 'kept\nls: /root/extra: No such file or directory\n');
    assert.equal((await d.client.guests.get(name)).limits.memory, '300M', 'its settings stay');
    await d.done(await d.client.guests.delete(name, true));
  });
}

test("the store's disk full in the middle of a backup: the backup fails saying so, the guest runs on, the earlier backups stay whole", async () => {
  const small = path.join(d.dir, 'small');
  mkdirSync(small);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', small]);
  try {
    await d.client.backups.addStore({ name: 'small', path: path.join(small, 'store') });
    await d.launch('full', { networks: [] });
    await guestSh(d, 'full', 'dd if=/dev/urandom of=/root/a bs=1M count=8 2>/dev/null && sync');
    await d.done(await d.client.backups.create('full', { store: 'small' }));
    await guestSh(d, 'full', 'dd if=/dev/urandom of=/root/b bs=1M count=32 2>/dev/null && sync');
    const op = await d.client.operations.wait((await d.client.backups.create('full', { store: 'small' })).id, 120);
    assert.equal(op.status, 'failure');
    assert.match(op.error?.message ?? '', /^backup store small is full \(.*\): this backup was not kept, the earlier ones are whole/);
    assert.equal((await d.client.guests.get('full')).state, 'running');
    const left = await d.client.backups.list('small', 'full');
    assert.equal(left.filter((b) => b.finished).length, 1, 'the first backup is there, and only it');
    assert.equal((await d.client.backups.verify('small')).ok, true);
    await d.client.backups.removeStore('small');
  } finally {
    spawnSync('umount', ['--lazy', small]);
  }
});

test('a lodged killed in the middle of a restore: at its next start no half-restored guest is there, and nothing of it is left', async () => {
  const b = (await d.client.backups.list('local', 'bk')).filter((x) => x.finished).at(-1)!;
  const volumesBefore = d.rootVolumes().length;
  const op = await d.client.backups.restore('local', 'bk', b.id, { name: 'half' });
  for (let i = 0; i < 400 && !(await d.client.operations.get(op.id)).step.startsWith('restoring its root volume'); i++) await sleep(25);
  await sleep(300);
  await d.kill9();
  await d.start();
  assert.equal((await d.client.guests.list()).some((g) => g.name === 'half'), false);
  assert.equal(d.rootVolumes().length, volumesBefore, 'its root volume is gone');
  assert.equal((await d.client.operations.get(op.id)).status, 'failure');
});
