/**
 * The memory balancing service over GuestService with a fake engine whose allocations and use
 * the test sets: what a round reads, when it may not trust what it did not read, and that a
 * pause, a dry run and a guest out of the loop move nothing. (The moves themselves, on real
 * cgroups, are test/system/autonomic-memory.test.ts's.)
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { GuestSpec, MemoryAllocation, MemoryReading } from '../drivers/driver.js';
import { MemoryBalancer, guestMemoryBudget } from './autonomic-memory.js';
import { FakeDriver } from './fake-driver.test-support.js';
import { settled, setup, type Harness } from './guest-harness.test-support.js';

const M = 1024 * 1024;

/** A fake whose guests hold an allocation (their ceiling at start) and use what the test says; it counts its readings. */
class MemoryFake extends FakeDriver implements MemoryAllocation {
  readonly allocation = new Map<string, number>();
  readonly used = new Map<string, number>();
  readings = 0;
  /** Guests whose engine does not answer. */
  readonly silent = new Set<string>();
  /** Guests whose engine errs when read. */
  readonly failing = new Set<string>();
  readonly oomKills = new Map<string, number>();
  async memoryMechanism(): Promise<string> {
    return 'cgroup limit';
  }
  async memoryReading(spec: GuestSpec): Promise<MemoryReading | undefined> {
    this.readings++;
    if (this.failing.has(spec.name)) throw new Error('its cgroup is gone');
    if (this.silent.has(spec.name)) return undefined;
    const kills = this.oomKills.get(spec.name);
    return { allocationBytes: this.allocation.get(spec.name) ?? spec.limits.memoryBytes!, usedBytes: this.used.get(spec.name) ?? M, ...(kills !== undefined ? { oomKills: kills } : {}) };
  }
  async setMemoryAllocation(spec: GuestSpec, bytes: number): Promise<void> {
    this.allocation.set(spec.name, bytes);
  }
}

async function withGuests(t: TestContext, budgetMb: number, dryRun = false): Promise<{ h: Harness; fake: MemoryFake; balancer: MemoryBalancer; paused: { on: boolean } }> {
  const fake = new MemoryFake('ct');
  const h = await setup(t, [fake]);
  for (const name of ['a', 'b']) await settled(h, h.guests.launch({ name, image: 'base', kind: 'ct', networks: [], limits: { memory: '256M' } }));
  const balancer = new MemoryBalancer({ guests: h.guests, operations: h.operations, log: (m) => h.logs.push(m), budgetBytes: budgetMb * M, dryRun });
  const paused = { on: false };
  // started, then stopped at once: the test runs the rounds itself
  balancer.start(() => paused.on);
  balancer.stop();
  return { h, fake, balancer, paused };
}

const memoryOps = (h: Harness) => h.operations.list().filter((o) => o.action === 'autonomic.memory');

test('overcommitted, the first round reads every guest and gives each new one its fair share, with an operation each', async (t) => {
  const { h, fake, balancer } = await withGuests(t, 384);
  await balancer.round();
  assert.equal(fake.readings, 2);
  assert.deepEqual([fake.allocation.get('a'), fake.allocation.get('b')], [192 * M, 192 * M]);
  const ops = memoryOps(h);
  assert.equal(ops.length, 2);
  assert.ok(ops.every((o) => o.status === 'success' && /is given its fair share, 192MB of its 256MB ceiling/.test(o.reason ?? '')), JSON.stringify(ops));
  const status = balancer.status();
  assert.equal(status.overcommitted, true);
  assert.deepEqual(status.guests.map((g) => [g.name, g.floorBytes, g.allocationBytes, g.ceilingBytes, g.how]), [
    ['a', 64 * M, 256 * M, 256 * M, 'cgroup limit'],
    ['b', 64 * M, 256 * M, 256 * M, 'cgroup limit'],
  ]);
  // b grows: the next round moves memory from idle a to it
  fake.used.set('b', 180 * M);
  await balancer.round();
  assert.equal(fake.allocation.get('b'), 256 * M);
  assert.equal(fake.allocation.get('a'), 128 * M);
  assert.match(memoryOps(h).find((o) => /took/.test(o.reason ?? ''))?.reason ?? '', /^b used 94% of its 192MB now; took 64MB from idle a \(cgroup limit/);
});

test('when the ceilings fit, a guest held at its ceiling is not read again, nor the host asked; lowered ones are, and get their ceiling back', async (t) => {
  const { fake, balancer } = await withGuests(t, 1024);
  fake.allocation.set('a', 100 * M);
  await balancer.round();
  assert.equal(fake.readings, 2);
  assert.equal(fake.allocation.get('a'), 256 * M, 'a lowered guest holds its ceiling again');
  await balancer.round();
  assert.equal(fake.readings, 3, 'only a, lowered when last read, is read');
  const looks = fake.calls.length;
  await balancer.round();
  assert.equal(fake.readings, 3, 'nobody is read while all hold their ceilings');
  assert.equal(fake.calls.length, looks, 'nor is the host asked whether they run');
  assert.deepEqual(balancer.status().guests.map((g) => [g.name, g.allocationBytes]), [['a', 256 * M], ['b', 256 * M]]);
});

test('a guest whose engine does not answer holds what it held: it neither gives nor gets, and the others go on', async (t) => {
  const { fake, balancer } = await withGuests(t, 384);
  await balancer.round();
  fake.silent.add('a');
  fake.used.set('b', 180 * M);
  await balancer.round();
  assert.equal(fake.allocation.get('a'), 192 * M, 'a, unread, gave nothing');
  assert.equal(fake.allocation.get('b'), 192 * M, 'and there was nothing free for b');
  assert.match(balancer.status().guests.find((g) => g.name === 'a')!.how, /no reading this round/);
  fake.silent.delete('a');
  await balancer.round();
  assert.equal(fake.allocation.get('b'), 256 * M, 'read again, a gives');
});

test("a guest's new OOM kills are logged, once", async (t) => {
  const { h, fake, balancer } = await withGuests(t, 384);
  fake.oomKills.set('b', 0);
  await balancer.round();
  fake.oomKills.set('b', 2);
  await balancer.round();
  await balancer.round();
  assert.deepEqual(h.logs.filter((l) => /killed for want of memory/.test(l)), ['autonomic: b had 2 process(es) killed for want of memory at 192MB (2 since it started)']);
});

test('paused, a dry run, or out of the loop: nothing moves', async (t) => {
  const paused = await withGuests(t, 384);
  paused.paused.on = true;
  await paused.balancer.round();
  assert.equal(paused.fake.allocation.size, 0);
  assert.equal(memoryOps(paused.h).length, 0);
  assert.equal(paused.balancer.status().overcommitted, true, 'it still reads and shows');

  const dry = await withGuests(t, 384, true);
  await dry.balancer.round();
  await dry.balancer.round();
  assert.equal(dry.fake.allocation.size, 0, 'no engine was told anything');
  const ops = memoryOps(dry.h);
  assert.equal(ops.length, 2, 'the shares it would give, once: its own book says they were given');
  assert.ok(ops.every((o) => o.reason?.startsWith('dry run: would have: ')), JSON.stringify(ops));

  const off = await withGuests(t, 384);
  await off.h.guests.update('a', { autonomic: 'off' });
  await off.balancer.round();
  assert.equal(off.fake.allocation.get('a'), 256 * M, 'turned off, it was given its ceiling');
  assert.equal(off.fake.allocation.get('b'), 128 * M, 'b gets what the budget has beside a');
  assert.match(off.balancer.status().guests.find((g) => g.name === 'a')!.how, /^out of the loop/);
});

test('the budget is the host less its reserve, or smaller when asked; a larger or bad one is refused, naming the flag', () => {
  assert.equal(guestMemoryBudget(8192 * M, undefined), 7168 * M);
  assert.equal(guestMemoryBudget(8192 * M, '2G'), 2048 * M);
  assert.throws(() => guestMemoryBudget(8192 * M, '8G'), /^Error: --guest-memory: 8G is more than this host can give its guests \(7G/);
  assert.throws(() => guestMemoryBudget(8192 * M, 'lots'), /^Error: --guest-memory: "lots" is not a size/);
});

test('a guest whose engine errs when read is left out of the round, and the others are balanced', async (t) => {
  const { h, fake, balancer } = await withGuests(t, 384);
  fake.failing.add('b');
  await balancer.round();
  assert.ok(h.logs.some((l) => /b's memory cannot be read: its cgroup is gone/.test(l)), h.logs.join('\n'));
  assert.deepEqual(balancer.status().guests.map((g) => g.name), ['a']);
  assert.ok(!h.logs.some((l) => /memory round failed/.test(l)), 'the round itself went on');
});

test('a guest taken out of the loop, or busy with another action, is not moved', async (t) => {
  const { h } = await withGuests(t, 384);
  await h.guests.update('a', { autonomic: 'off' });
  await assert.rejects(h.guests.setMemoryAllocation('a', 192 * M), /a was taken out of the loop \(--autonomic off\): its memory is not moved/);
  // an action on b holds its lock: the loop does not wait behind it
  const stopping = h.guests.update('b', { restart: 'always' });
  await assert.rejects(h.guests.setMemoryAllocation('b', 192 * M), /b is busy with another action: its memory is left as it is this round/);
  await stopping;
  await h.guests.setMemoryAllocation('b', 192 * M);
});
