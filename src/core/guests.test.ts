/**
 * GuestService over a fake driver and everything else real (the store in a temporary
 * directory, a dir pool, operations, events, networks without any): a launch that fails
 * at any step leaves nothing behind, reconcile adopts what the host shows, one guest's
 * actions run one at a time, and what a kind cannot do is refused with its reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LodgeError } from '../api/errors.js';
import type { GuestState } from '../api/guests.js';
import type { GuestRef, GuestSpec } from '../drivers/driver.js';
import { FakeDriver, FakeHotplugDriver, fakeRootBytes } from './fake-driver.test-support.js';
import { launch, settled, setup, type Harness } from './guest-harness.test-support.js';
import { GuestService } from './guests.js';

const entries = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

/** Nothing of a guest anywhere: no row, no root volume's row or directory, no host files, nothing in the engine. */
function assertNothingLeft(h: Harness, fake: FakeDriver, name: string): void {
  assert.equal(h.store.guest(name), undefined, 'no guest row');
  assert.deepEqual(h.store.volumes('default'), [], 'no volume row');
  assert.deepEqual(entries(h.poolGuests), [], "nothing under the pool's guests/");
  assert.deepEqual(entries(h.guestsDir), [], 'no guest directory');
  assert.equal(fake.guests.size, 0, 'nothing in the engine');
}

/** A guest's rows as launch writes them, and its root volume made, as a lodged that died at that point left them. */
async function insertGuest(h: Harness, name: string, state: GuestState): Promise<GuestRef> {
  const g = h.store.insertGuest({ name, kind: 'vm', image: 'base', imageContent: 'v1', state, limits: {}, options: {} });
  const id = `${h.store.instance}-${g.id}`;
  const v = h.store.insertVolume({ pool: 'default', key: `guests/${id}`, content: 'block', sizeBytes: 0, guestId: g.id });
  const { dir } = await h.storage.createVolume(v);
  writeFileSync(path.join(dir, 'disk.qcow2'), '');
  const ref = { id, name, dir: path.join(h.guestsDir, id) };
  mkdirSync(ref.dir, { recursive: true });
  return ref;
}

const steps = [
  { at: 'create', step: 'preparing the root filesystem' },
  { at: 'start', step: 'starting vm guest' },
] as const;

for (const { at, step } of steps) {
  test(`a launch whose driver fails at ${at} leaves nothing behind, and the name can be launched again`, async (t) => {
    const fake = new FakeDriver('vm');
    const h = await setup(t, [fake]);
    fake.failNext(at);
    const failed = await launch(h, 'g1');
    assert.equal(failed.status, 'failure');
    assert.equal(failed.error?.code, 'ENGINE_FAILED');
    assert.equal(failed.error?.message, `launching g1 failed (at step: ${step})`);
    assert.equal(failed.error?.cause, `the fake failed at ${at}`);
    assert.ok(fake.callsOf('g1').includes('destroy'), 'the driver was told to undo what it made');
    assertNothingLeft(h, fake, 'g1');

    const again = await launch(h, 'g1');
    assert.equal(again.status, 'success', JSON.stringify(again.error));
    assert.equal(h.store.guest('g1')?.state, 'running');
    const [root] = h.store.volumes('default');
    assert.equal(root?.sizeBytes, fakeRootBytes, "a block root has its disk's size");
    assert.ok(existsSync(path.join(h.poolGuests, path.basename(root.key), 'disk.qcow2')));
  });
}

test('a launch whose undo fails too keeps its guest, in error with both reasons, until a delete removes it whole', async (t) => {
  const fake = new FakeDriver('vm');
  const h = await setup(t, [fake]);
  fake.failNext('start');
  fake.failNext('destroy');
  assert.equal((await launch(h, 'g1')).status, 'failure');
  const kept = h.store.guest('g1');
  assert.equal(kept?.state, 'error');
  assert.match(kept?.stateReason ?? '', /^its launch failed, and removing what it made failed too \(the fake failed at destroy\): delete it$/);
  assert.equal(h.store.volumes('default').length, 1, 'its root volume stays with it');
  assert.equal((await settled(h, h.guests.delete('g1', true))).status, 'success');
  assertNothingLeft(h, fake, 'g1');
});

test('a launch whose storage fails after making the root volume leaves nothing behind, and the name can be launched again', async (t) => {
  const fake = new FakeDriver('vm');
  const h = await setup(t, [fake]);
  h.storage.failNextVolume = new Error('the pool is full');
  const failed = await launch(h, 'g1');
  assert.equal(failed.status, 'failure');
  assert.equal(failed.error?.message, 'launching g1 failed (at step: making its root volume in storage pool default)');
  assert.equal(failed.error?.cause, 'the pool is full');
  assert.ok(!fake.callsOf('g1').includes('create'), 'the driver made nothing');
  assertNothingLeft(h, fake, 'g1');
  assert.equal((await launch(h, 'g1')).status, 'success');
});

test('reconcile removes an interrupted launch whole, stops an engine a stopped guest left running, and records an ended one stopped', async (t) => {
  const fake = new FakeDriver('vm');
  const h = await setup(t, [fake]);
  const half = await insertGuest(h, 'half', 'creating');
  fake.adopt(half, 'running');
  const stale = await insertGuest(h, 'stale', 'stopped');
  fake.adopt(stale, 'running');
  const ended = await insertGuest(h, 'ended', 'running');
  fake.adopt(ended, 'ended', 'killed by signal 9');
  const alive = await insertGuest(h, 'alive', 'running');
  fake.adopt(alive, 'running');

  // a lodged started again: a new service over the same state
  await new GuestService(h.deps).reconcile();

  assert.deepEqual(fake.callsOf('half'), ['destroy']);
  assert.equal(h.store.guest('half'), undefined);
  assert.deepEqual(h.store.volumes('default').map((v) => v.guest).sort(), ['alive', 'ended', 'stale'], "the interrupted launch's root volume row is gone");
  assert.ok(!entries(h.poolGuests).includes(half.id), 'and its directory');
  assert.ok(!existsSync(half.dir), 'and its host files');
  assert.ok(!fake.guests.has(half.id));

  assert.deepEqual(fake.callsOf('stale'), ['stop']);
  assert.equal(fake.guests.get(stale.id)?.engine, 'ended');
  assert.equal(h.store.guest('stale')?.state, 'stopped');

  assert.deepEqual(fake.callsOf('ended'), []);
  assert.equal(h.store.guest('ended')?.state, 'stopped');
  assert.equal(h.store.guest('ended')?.stateReason, 'killed by signal 9');

  assert.equal(h.store.guest('alive')?.state, 'running');
  assert.deepEqual(fake.callsOf('alive'), []);
});

test("one guest's actions run one after the other, another guest's meanwhile, and a list during an action does not record it stopped", async (t) => {
  const fake = new FakeDriver('vm');
  const h = await setup(t, [fake]);
  assert.equal((await launch(h, 'a')).status, 'success');
  assert.equal((await launch(h, 'b')).status, 'success');
  fake.calls.length = 0;

  // a restart held between its stop and its start: the engine shows the guest ended
  const held = fake.hang('start', 'a');
  const restart = h.guests.changeState('a', { action: 'restart' });
  await held.reached;
  const stop = h.guests.changeState('a', { action: 'stop' });

  const other = await settled(h, h.guests.changeState('b', { action: 'stop' }));
  assert.equal(other.status, 'success', 'b does not wait for a');
  assert.equal(h.store.guest('b')?.state, 'stopped');

  await sleep(20);
  assert.deepEqual(fake.callsOf('a'), ['stop', 'start'], 'the second stop has not reached the driver');
  assert.equal(h.operations.get(stop.id).status, 'running', 'the second stop waits for the restart');

  const listed = await h.guests.list();
  assert.equal(listed.find((g) => g.name === 'a')?.state, 'running', 'list shows a as its action left it');
  assert.equal(h.store.guest('a')?.state, 'running', 'and does not record it stopped');

  held.release();
  const [restarted, stopped] = await Promise.all([settled(h, restart), settled(h, stop)]);
  assert.equal(restarted.status, 'success');
  assert.equal(stopped.status, 'success');
  assert.deepEqual(fake.callsOf('a'), ['stop', 'start', 'stop']);
  assert.equal(h.store.guest('a')?.state, 'stopped');
  assert.equal(h.store.guest('a')?.stateReason, 'stopped on request');
});

test("what a kind cannot do is refused with its driver's reason; a kind that hot-plugs gets the disk's slot and file", async (t) => {
  const pv = new FakeDriver('pv', { interactiveExec: 'NAME has no terminal of its own: lodge console NAME is its terminal' });
  const vm = new FakeHotplugDriver('vm');
  const h = await setup(t, [pv, vm]);
  assert.equal((await launch(h, 'p1', 'pv')).status, 'success');
  assert.equal((await launch(h, 'v1', 'vm')).status, 'success');

  await assert.rejects(
    h.guests.interactive('p1', { command: ['sh'] }, { cols: 80, rows: 24 }),
    (e: unknown) => e instanceof LodgeError && e.code === 'UNSUPPORTED' && e.message === 'exec -t is not available in pv guests: p1 has no terminal of its own: lodge console p1 is its terminal',
  );
  assert.deepEqual(await h.guests.interactive('v1', { command: ['sh'] }, { cols: 80, rows: 24 }), { argv: ['fake-exec', 'sh'] });
  await assert.rejects(h.guests.vga('p1'), { code: 'UNSUPPORTED', message: 'a VGA screen is not available in pv guests: the fake has no screen' });

  const data = h.store.insertVolume({ pool: 'default', key: 'custom/data', content: 'block', sizeBytes: 64 * 1024 * 1024 });
  const { dir } = await h.storage.createVolume(data);
  await assert.rejects(
    h.guests.attachVolume('p1', { volume: 'data' }),
    (e: unknown) => e instanceof LodgeError && e.code === 'UNSUPPORTED' && e.message === 'attaching or detaching a volume while a guest runs is not available in pv guests: the fake cannot plug a disk into a running guest',
  );
  assert.deepEqual(h.store.attachments({ volumeId: data.id }), [], 'nothing recorded');
  assert.ok(!pv.callsOf('p1').includes('attachDisk'));

  const attached = await h.guests.attachVolume('v1', { volume: 'data' });
  assert.deepEqual(attached.attachedTo, { guest: 'v1', device: '/dev/vdb' });
  assert.deepEqual(
    vm.calls.filter((c) => c.method === 'attachDisk'),
    [{ method: 'attachDisk', guest: 'v1', disk: { name: 'data', slot: 1, file: path.join(dir, 'disk.raw') } }],
  );
  assert.equal(h.store.customVolume('data')?.kernelWritten, true);
});

test('a start the engine fails leaves the guest in error with the failure; a stop that fails while the engine runs leaves it running', async (t) => {
  const fake = new FakeDriver('vm');
  const h = await setup(t, [fake]);
  assert.equal((await settled(h, h.guests.launch({ name: 'g1', image: 'base', kind: 'vm', networks: [], start: false }))).status, 'success');
  assert.equal(h.store.guest('g1')?.state, 'stopped');

  fake.failNext('start');
  const failed = await settled(h, h.guests.changeState('g1', { action: 'start' }));
  assert.equal(failed.error?.code, 'ENGINE_FAILED');
  assert.equal(h.store.guest('g1')?.state, 'error');
  assert.equal(h.store.guest('g1')?.stateReason, 'start of g1 failed: the fake failed at start');
  assert.equal((await settled(h, h.guests.changeState('g1', { action: 'start' }))).status, 'success', 'a guest in error starts again');
  assert.equal(h.store.guest('g1')?.state, 'running');
  assert.equal(h.store.guest('g1')?.stateReason, undefined);

  fake.failNext('stop');
  assert.equal((await settled(h, h.guests.changeState('g1', { action: 'stop' }))).status, 'failure');
  assert.equal(h.store.guest('g1')?.state, 'running');
});

test('a name being launched cannot be launched again, and a delete asked meanwhile waits for the launch', async (t) => {
  const fake = new FakeDriver('vm');
  const h = await setup(t, [fake]);
  const held = fake.hang('start', 'g1');
  const first = h.guests.launch({ name: 'g1', image: 'base', kind: 'vm', networks: [] });
  await held.reached;
  assert.throws(() => h.guests.launch({ name: 'g1', image: 'base', kind: 'vm', networks: [] }), (e: unknown) => e instanceof LodgeError && e.code === 'CONFLICT');
  assert.equal((await h.guests.list()).find((g) => g.name === 'g1')?.state, 'creating');
  const deleting = h.guests.delete('g1', true);
  await sleep(20);
  assert.deepEqual(fake.callsOf('g1'), ['create', 'start'], 'the delete has not reached the driver');
  held.release();
  assert.equal((await settled(h, first)).status, 'success');
  assert.equal((await settled(h, deleting)).status, 'success');
  assert.deepEqual(fake.callsOf('g1'), ['create', 'start', 'stop', 'destroy']);
  assertNothingLeft(h, fake, 'g1');
});

test('a launch cancelled in the middle undoes what it made, says it was cancelled, and frees the name', async (t) => {
  const fake = new FakeDriver('vm');
  const h = await setup(t, [fake]);
  const held = fake.hang('create', 'g1');
  const op = h.guests.launch({ name: 'g1', image: 'base', kind: 'vm', networks: [] });
  await held.reached;
  assert.equal(h.operations.cancel(op.id).status, 'running', 'it ends once it has undone its work');
  held.release();
  const ended = await settled(h, op);
  assert.deepEqual({ status: ended.status, code: ended.error?.code }, { status: 'failure', code: 'CANCELLED' });
  assert.equal(ended.error?.message, 'guest.launch of g1 was cancelled by a client; what it had made was undone (at step: preparing the root filesystem)');
  assertNothingLeft(h, fake, 'g1');
  assert.throws(() => h.operations.cancel(op.id), (e: unknown) => e instanceof LodgeError && e.code === 'CONFLICT' && /has ended \(failure\): there is nothing to cancel/.test(e.message));
  assert.equal((await launch(h, 'g1')).status, 'success');
});

test('a start cancelled once its engine runs kills the engine and leaves the guest stopped; a stop cannot be cancelled', async (t) => {
  const fake = new FakeDriver('vm');
  const h = await setup(t, [fake]);
  assert.equal((await settled(h, h.guests.launch({ name: 'g1', image: 'base', kind: 'vm', networks: [], start: false }))).status, 'success');
  const held = fake.hang('start', 'g1');
  const op = h.guests.changeState('g1', { action: 'start' });
  await held.reached;
  h.operations.cancel(op.id);
  held.release();
  assert.equal((await settled(h, op)).error?.code, 'CANCELLED');
  assert.equal(h.store.guest('g1')?.state, 'stopped');
  assert.equal((await fake.observe({ id: `${h.store.instance}-${h.store.guest('g1')!.id}`, name: 'g1', dir: '' })).state, 'stopped', 'its engine was killed');
  assert.equal((await settled(h, h.guests.changeState('g1', { action: 'start' }))).status, 'success');
  const stopping = fake.hang('stop', 'g1');
  const stop = h.guests.changeState('g1', { action: 'stop' });
  await stopping.reached;
  assert.throws(() => h.operations.cancel(stop.id), (e: unknown) => e instanceof LodgeError && e.code === 'CONFLICT' && /cannot be cancelled: it runs to its end/.test(e.message));
  stopping.release();
  assert.equal((await settled(h, stop)).status, 'success');
});

test('a running guest whose kernel got its memory at boot gives memory back only through a balloon; more, or a container\'s, changes at once', async (t) => {
  const pv = new FakeDriver('pv', { memoryBalloon: 'the fake has no balloon' });
  pv.memory = { minimumBytes: 32 << 20, defaultBytes: 128 << 20 };
  const ct = new FakeDriver('ct', { memoryBalloon: 'a container has no memory of its own' });
  const h = await setup(t, [pv, ct]);
  assert.equal((await launch(h, 'p1', 'pv')).status, 'success');
  await assert.rejects(
    h.guests.update('p1', { limits: { memory: '64M' } }),
    (e: unknown) => e instanceof LodgeError && e.code === 'UNSUPPORTED' && e.message === 'giving memory back while a guest runs is not available in pv guests: the fake has no balloon',
  );
  assert.equal((await h.guests.update('p1', { limits: { memory: '256M' } })).limits.memory, '256M', 'more memory is only a larger cap');
  await settled(h, h.guests.changeState('p1', { action: 'stop' }));
  assert.equal((await h.guests.update('p1', { limits: { memory: '64M' } })).limits.memory, '64M', 'stopped, it takes effect at the next start');
  assert.equal((await launch(h, 'c1', 'ct')).status, 'success');
  assert.equal((await h.guests.update('c1', { limits: { memory: '64M' } })).limits.memory, '64M');
});

test("pause and live limits are refused for a kind without them, with the driver's reason, before any operation", async (t) => {
  const pv = new FakeDriver('pv', { pause: 'the fake cannot freeze NAME', liveLimits: 'the fake sets limits at start only' });
  const h = await setup(t, [pv]);
  assert.equal((await launch(h, 'p1', 'pv')).status, 'success');
  assert.throws(
    () => h.guests.changeState('p1', { action: 'pause' }),
    (e: unknown) => e instanceof LodgeError && e.code === 'UNSUPPORTED' && e.message === 'pause is not available in pv guests: the fake cannot freeze p1',
  );
  await assert.rejects(
    h.guests.update('p1', { limits: { cpu: 1 } }),
    (e: unknown) => e instanceof LodgeError && e.code === 'UNSUPPORTED' && /^changing limits while a guest runs is not available in pv guests: the fake sets limits at start only$/.test(e.message),
  );
  assert.deepEqual(pv.callsOf('p1'), ['create', 'start']);
  assert.deepEqual(h.store.guest('p1')?.limits, {});
  assert.deepEqual(h.operations.list().map((o) => o.action), ['guest.launch']);
});

/** A driver told of renames, as ct is, that can be made to fail at it. */
class RenamingDriver extends FakeDriver {
  readonly renames: string[] = [];
  failRename = false;
  async renamed(spec: GuestSpec): Promise<void> {
    if (this.failRename) throw new Error('the upper layer is gone');
    this.renames.push(spec.name);
  }
}

test('a rename tells the driver the new name before the row changes: a driver failing leaves the guest as it was; its own name is refused plainly', async (t) => {
  const fake = new RenamingDriver('ct');
  const h = await setup(t, [fake]);
  await launch(h, 'a', 'ct');
  assert.equal((await settled(h, h.guests.changeState('a', { action: 'stop' }))).status, 'success');
  await assert.rejects(h.guests.rename('a', 'a'), (e: unknown) => e instanceof LodgeError && e.code === 'BAD_REQUEST' && /name: a is its name already/.test(e.message));
  fake.failRename = true;
  await assert.rejects(h.guests.rename('a', 'b'), (e: unknown) => e instanceof Error && /renaming a to b failed/.test(e.message) && /the upper layer is gone/.test(String((e.cause as Error)?.message)));
  assert.deepEqual([h.store.guest('a')?.name, h.store.guest('b')], ['a', undefined]);
  fake.failRename = false;
  assert.equal((await h.guests.rename('a', 'b')).name, 'b');
  assert.deepEqual(fake.renames, ['b']);
  // two renames crossing each other's names wait in one order, not on each other
  await launch(h, 'c', 'ct');
  assert.equal((await settled(h, h.guests.changeState('c', { action: 'stop' }))).status, 'success');
  const crossing = await Promise.allSettled([h.guests.rename('b', 'c'), h.guests.rename('c', 'b')]);
  assert.deepEqual(crossing.map((r) => r.status), ['rejected', 'rejected']);
});

test('a list matches every filter given, the state as a look at the host finds it', async (t) => {
  const vm = new FakeDriver('vm');
  const ct = new FakeDriver('ct');
  const h = await setup(t, [vm, ct]);
  for (const [name, kind] of [['web1', 'ct'], ['web2', 'vm'], ['db1', 'ct']] as const) assert.equal((await launch(h, name, kind)).status, 'success');
  // web2's engine ended on its own: only a look at the host knows it is stopped
  const g = h.store.guest('web2')!;
  vm.adopt({ id: `${h.store.instance}-${g.id}`, name: 'web2', dir: '' }, 'ended', 'it powered off');
  const names = async (filter: Parameters<GuestService['list']>[0]) => (await h.guests.list(filter)).map((x) => x.name);
  assert.deepEqual(await names({}), ['db1', 'web1', 'web2']);
  assert.deepEqual(await names({ name: 'web' }), ['web1', 'web2']);
  assert.deepEqual(await names({ name: 'w*1' }), ['web1']);
  assert.deepEqual(await names({ kind: 'ct', state: 'running' }), ['db1', 'web1']);
  assert.deepEqual(await names({ state: 'stopped' }), ['web2']);
  assert.deepEqual(await names({ image: 'base', name: 'db*' }), ['db1']);
  assert.deepEqual(await names({ image: 'other' }), []);
  assert.deepEqual(await names({ network: 'default' }), [], 'guests without NICs are on no network');
});

test('a rename keeps the guest whole under its new name; a running guest, a taken name and a guest with an operation going are refused', async (t) => {
  const fake = new FakeDriver('vm');
  const h = await setup(t, [fake]);
  await launch(h, 'a');
  await launch(h, 'b');
  await assert.rejects(h.guests.rename('a', 'c'), (e: unknown) => e instanceof LodgeError && e.code === 'CONFLICT' && /cannot rename a: it is running.*stop it first \(lodge stop a\)/.test(e.message));
  assert.equal((await settled(h, h.guests.changeState('a', { action: 'stop' }))).status, 'success');
  await assert.rejects(h.guests.rename('a', 'b'), /name: a guest named b exists already/);
  const id = h.store.guest('a')!.id;
  const renamed = await h.guests.rename('a', 'c');
  assert.deepEqual([renamed.name, renamed.state, h.store.guest('c')?.id, h.store.guest('a')], ['c', 'stopped', id, undefined]);
  // a start of it, held in the driver, is an operation going on it
  const held = fake.hang('start', 'c');
  const start = h.guests.changeState('c', { action: 'start' });
  await held.reached;
  await assert.rejects(h.guests.rename('c', 'd'), /cannot rename c: guest\.start \S+ is running on it/);
  held.release();
  assert.equal((await settled(h, start)).status, 'success');
});
