/**
 * Snapshots and copies on real engines, for every kind on both pool types: a marker
 * written, a snapshot taken (running: the guest paused meanwhile, then running again), the
 * marker changed, the snapshot restored (a running guest killed and started again), the
 * marker read back; a copy made from the snapshot boots with the snapshot's marker, its own
 * name and a new address; a snapshot's bytes go with it and with its guest; a lodged killed
 * after the bytes and before the row leaves nothing at its next start.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { LodgeError } from '../../src/api/errors.js';
import type { GuestKind } from '../../src/api/common.js';
import { guestSh, requireProgram, TestDaemon } from './harness.js';

const d = new TestDaemon({ netns: true });
before(async () => {
  requireProgram('/usr/bin/linux.uml', 'user-mode-linux');
  requireProgram('/usr/bin/qemu-system-x86_64', 'qemu-system-x86');
  await d.start();
  await d.buildBusybox();
  await d.client.storage.create({ name: 'plain', driver: 'dir' });
});
after(() => d.cleanup());

const refused = (code: string, message: RegExp) => (e: unknown) => e instanceof LodgeError && e.code === code && message.test(e.message);


/** Writes the marker and makes it reach the guest's disk. */
const mark = (name: string, text: string) => guestSh(d, name, `echo ${text} > /root/marker && sync`);

const snapshotDirs = async (pool: string) => {
  const dir = path.join((await d.client.storage.get(pool)).path, 'snapshots', 'guests');
  return existsSync(dir) ? readdirSync(dir).flatMap((g) => readdirSync(path.join(dir, g)).map((s) => `${g}/${s}`)) : [];
};

const cases: Array<{ kind: GuestKind; pool: string }> = [
  { kind: 'ct', pool: 'default' },
  { kind: 'ct', pool: 'plain' },
  { kind: 'pv', pool: 'default' },
  { kind: 'pv', pool: 'plain' },
  { kind: 'vm', pool: 'default' },
  { kind: 'vm', pool: 'plain' },
];

for (const { kind, pool } of cases) {
  test(`${kind} on a ${pool === 'default' ? 'btrfs' : 'dir'} pool: snapshot running, restore running, copy from the snapshot`, async () => {
    const name = `${kind}-${pool}`;
    await d.launch(name, { kind, pool, ...(kind === 'ct' ? {} : { limits: { memory: '128M' } }) });
    await mark(name, 'one');
    const cli = d.lodge(['snapshot', 'create', name, 'first']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stderr, new RegExp(`${name} has snapshot first \\(\\d+ ms\\)`));
    const g = await d.client.guests.get(name);
    assert.equal(g.state, 'running', 'the guest runs again after its snapshot');
    await mark(name, 'two');
    assert.equal(await guestSh(d, name, 'cat /root/marker'), 'two\n');

    await d.done(await d.client.snapshots.restore(name, 'first'), 300);
    assert.equal((await d.client.guests.get(name)).state, 'running', 'a running guest runs again after a restore');
    assert.equal(await guestSh(d, name, 'cat /root/marker'), 'one\n', 'the marker of the snapshot is back');

    const copy = `${name}-c`;
    await d.done(await d.client.guests.copy(name, { name: copy, snapshot: 'first', start: true }), 300);
    assert.equal(await guestSh(d, copy, 'cat /root/marker'), 'one\n');
    assert.equal(await guestSh(d, copy, 'hostname'), `${copy}\n`, 'the copy has its own name');
    const [src, dst] = [await d.client.guests.get(name), await d.client.guests.get(copy)];
    assert.notEqual(dst.nics?.[0]?.mac, src.nics?.[0]?.mac);
    assert.notEqual(dst.nics?.[0]?.address, src.nics?.[0]?.address);
    assert.equal(dst.root?.pool, pool);

    const list = d.lodge(['snapshot', 'list', name, '--format', 'json']);
    assert.deepEqual((JSON.parse(list.stdout) as Array<{ name: string; guestState: string }>).map((s) => [s.name, s.guestState]), [['first', 'running']]);
    await d.done(await d.client.guests.delete(copy, true));
    await d.done(await d.client.guests.delete(name, true));
    assert.deepEqual(await snapshotDirs(pool), [], 'snapshots go with their guest');
  });
}

test('a stopped guest: snapshots named and unnamed, info, a copy of the guest as it is, delete; bad requests name what is wrong', async () => {
  await d.launch('s1', { start: false, networks: [] });
  await d.done(await d.client.snapshots.create('s1', {}));
  await d.done(await d.client.snapshots.create('s1', { name: 'named' }));
  await d.done(await d.client.snapshots.create('s1', {}));
  assert.deepEqual((await d.client.snapshots.list('s1')).map((s) => s.name), ['snap0', 'named', 'snap1']);
  const info = await d.client.snapshots.get('s1', 'named');
  assert.equal(info.guestState, 'stopped');
  assert.equal(typeof info.usedBytes, 'number');
  assert.match(d.lodge(['snapshot', 'info', 's1', 'named']).stdout, /^Guest was:\s+stopped$/m);

  await assert.rejects(d.client.snapshots.create('s1', { name: 'named' }), refused('CONFLICT', /s1 has a snapshot named already/));
  await assert.rejects(d.client.snapshots.create('nosuch', {}), refused('NOT_FOUND', /guest nosuch not found/));
  await assert.rejects(d.client.snapshots.restore('s1', 'nosuch'), refused('NOT_FOUND', /s1 has no snapshot nosuch/));
  await assert.rejects(d.client.snapshots.create('s1', { name: 'Bad_Name' }), refused('BAD_REQUEST', /name/));
  await assert.rejects(d.client.snapshots.create('s1', { stateful: true }), refused('UNSUPPORTED', /ct|CRIU/));
  await assert.rejects(d.client.guests.copy('s1', { name: 's1' }), refused('CONFLICT', /a guest named s1 exists already/));
  await assert.rejects(d.client.guests.copy('s1', { name: 's2', snapshot: 'nosuch' }), refused('NOT_FOUND', /s1 has no snapshot nosuch/));

  const cli = d.lodge(['copy', 's1', 's2']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal((await d.client.guests.get('s2')).state, 'stopped');
  assert.deepEqual(await d.client.snapshots.list('s2'), [], "a copy has none of its source's snapshots");

  assert.equal(d.lodge(['snapshot', 'delete', 's1', 'snap0', 'snap1']).code, 0);
  assert.deepEqual((await d.client.snapshots.list('s1')).map((s) => s.name), ['named']);
  const left = await snapshotDirs('default');
  assert.equal(left.length, 1);
  assert.match(left[0]!, /\/named$/);
});

test('bytes of a snapshot without a row (a lodged killed in between) are gone at the next start, and the guest keeps its own', async () => {
  await d.launch('k1', { start: false, networks: [] });
  await d.done(await d.client.snapshots.create('k1', { name: 'kept' }));
  const kept = (await snapshotDirs('default')).find((s) => s.endsWith('/kept'))!;
  const ofK1 = async () => (await snapshotDirs('default')).filter((s) => s.startsWith(path.dirname(kept))).map((s) => path.basename(s)).sort();
  // what a snapshot's making leaves when lodged dies before its row
  mkdirSync(path.join((await d.client.storage.get('default')).path, 'snapshots', 'guests', path.dirname(kept), 'stray'));
  assert.deepEqual(await ofK1(), ['kept', 'stray']);
  await d.kill9();
  await d.start();
  assert.deepEqual(await ofK1(), ['kept']);
  assert.match(d.stderr, /k1: removing snapshot stray: its making or its delete was cut short/);
  assert.deepEqual((await d.client.snapshots.list('k1')).map((s) => s.name), ['kept']);
});

test('a stateful vm snapshot brings the guest back running: a counter counts on from where it was', async () => {
  await d.launch('sv', { kind: 'vm', limits: { memory: '128M' }, networks: [] });
  // written aside and renamed: a read never sees the file between its truncation and its write (the restored machine may resume there)
  await guestSh(d, 'sv', `(i=0; while true; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.2; done) > /dev/null 2>&1 &`);
  const count = async () => Number(await guestSh(d, 'sv', 'cat /tmp/count'));
  while ((await count()) < 5) await new Promise((r) => setTimeout(r, 500));
  const before = await count();
  await d.done(await d.client.snapshots.create('sv', { name: 'live', stateful: true }), 300);
  const after = await count();
  assert.equal((await d.client.guests.get('sv')).state, 'running');
  assert.equal((await d.client.snapshots.get('sv', 'live')).stateful, true);
  // the counter ends with the machine: what the restore brings back is the snapshot's
  await d.client.guests.changeState('sv', { action: 'stop', force: true }).then((op) => d.done(op));

  await d.done(await d.client.snapshots.restore('sv', 'live'), 300);
  assert.equal((await d.client.guests.get('sv')).state, 'running', 'a stateful snapshot brings a stopped guest back running');
  const resumed = await count();
  assert.ok(resumed >= before && resumed <= after + 25, `the counter goes on from where it was (${before}..${after} at the snapshot, ${resumed} now)`);
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok((await count()) > resumed, 'and keeps counting');
});

test('stateful snapshots are refused where a kind cannot keep memory, each with its reason', async () => {
  await d.launch('sp', { kind: 'pv', limits: { memory: '128M' }, networks: [] });
  await assert.rejects(d.client.snapshots.create('sp', { stateful: true }), refused('UNSUPPORTED', /UML has no memory snapshot/));
  await d.launch('sc', { networks: [] });
  await assert.rejects(d.client.snapshots.create('sc', { stateful: true }), refused('UNSUPPORTED', /CRIU/));
  const host = await d.client.host();
  const ct = host.drivers.find((k) => k.kind === 'ct')!;
  assert.match(ct.lacks.statefulSnapshot ?? '', /CRIU/);
  await d.client.guests.changeState('sv', { action: 'stop', force: true }).then((op) => d.done(op));
  await assert.rejects(d.client.snapshots.create('sv', { stateful: true }), refused('CONFLICT', /sv is stopped: a stateful snapshot keeps the memory of a running guest/));
});
