/**
 * The CPU weighting service over GuestService with a fake engine whose CPU seconds the test
 * sets and whose weights it records, on the test's own clock: only changes are applied, each
 * an operation with its reason; a pause, a dry run and a guest out of the loop set nothing; a
 * new start begins its history again. (The weights on real cgroups are
 * test/system/autonomic-memory.test.ts's.)
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { CpuWeighting, GuestRef } from '../drivers/driver.js';
import { CpuWeigher } from './autonomic-cpu.js';
import { FakeDriver } from './fake-driver.test-support.js';
import { settled, setup, type Harness } from './guest-harness.test-support.js';

class CpuFake extends FakeDriver implements CpuWeighting {
  readonly seconds = new Map<string, number>();
  readonly shares = new Map<string, number>();
  writes = 0;
  override async usage(guest?: GuestRef): Promise<{ memoryBytes?: number; cpuSeconds?: number }> {
    return { memoryBytes: 1024 * 1024, cpuSeconds: this.seconds.get(guest!.name) ?? 0 };
  }
  cpuShares(guest: GuestRef): number {
    return this.shares.get(guest.name) ?? 1024;
  }
  sameCpuShares(a: number, b: number): boolean {
    return a === b;
  }
  async setCpuShares(guest: GuestRef, shares: number): Promise<void> {
    this.writes++;
    this.shares.set(guest.name, shares);
  }
}

async function withGuests(t: TestContext, dryRun = false) {
  const fake = new CpuFake('ct');
  const h = await setup(t, [fake]);
  for (const name of ['spin', 'calm']) await settled(h, h.guests.launch({ name, image: 'base', kind: 'ct', networks: [] }));
  const clock = { ms: 0 };
  const weigher = new CpuWeigher({ guests: h.guests, operations: h.operations, log: (m) => h.logs.push(m), dryRun, windowMs: 10_000, now: () => clock.ms });
  const paused = { on: false };
  // started, then stopped at once: the test runs the rounds itself
  weigher.start(() => paused.on);
  weigher.stop();
  /** `seconds` of rounds, one a second, spin using a whole CPU and calm 5 % of one. */
  const run = async (seconds: number, spinRate = 1) => {
    for (let i = 0; i < seconds; i++) {
      clock.ms += 1000;
      fake.seconds.set('spin', (fake.seconds.get('spin') ?? 0) + spinRate);
      fake.seconds.set('calm', (fake.seconds.get('calm') ?? 0) + 0.05);
      await weigher.round();
    }
  };
  return { h, fake, weigher, paused, run };
}

const cpuOps = (h: Harness) => h.operations.list().filter((o) => o.action === 'autonomic.cpu');

test('a spinner is lowered once after the window, with one operation, and raised once after half a window quiet', async (t) => {
  const { h, fake, weigher, run } = await withGuests(t);
  await run(9);
  assert.equal(fake.writes, 0, 'nothing before a whole window');
  await run(3);
  assert.deepEqual([fake.shares.get('spin'), fake.shares.get('calm')], [256, undefined]);
  await run(10);
  assert.equal(fake.writes, 1, 'set once, not every round');
  const ops = cpuOps(h);
  assert.equal(ops.length, 1);
  assert.equal(ops[0]!.status, 'success');
  assert.match(ops[0]!.reason ?? '', /^spin used 100% of a CPU for 10 s; its shares 1024 -> 256 so interactive guests go first$/);
  const s = weigher.status().guests.find((g) => g.name === 'spin')!;
  assert.deepEqual([s.shares, s.baseShares, s.lowered, s.priority], [256, 1024, true, 'normal']);
  // quiet: back once every round of half a window was under a quarter of a CPU
  await run(4, 0);
  assert.equal(fake.shares.get('spin'), 256);
  await run(1, 0);
  assert.equal(fake.shares.get('spin'), 1024);
  assert.match(cpuOps(h).find((o) => /quiet/.test(o.reason ?? ''))?.reason ?? '', /^spin has been quiet for 5 s \(at most 0% of a CPU\); its shares 256 -> 1024, its normal priority's weight again$/);
});

test('a weight reset behind the loop (a restart of its limits) is set again; a priority change is applied at the next round', async (t) => {
  const { h, fake, run } = await withGuests(t);
  await run(12);
  fake.shares.set('spin', 1024);
  await run(1);
  assert.equal(fake.shares.get('spin'), 256);
  assert.match(cpuOps(h).find((o) => /still/.test(o.reason ?? ''))?.reason ?? '', /^spin still spins \(100% of a CPU over the last 5 s\); its shares 1024 -> 256/);
  await h.guests.update('calm', { priority: 'low' });
  await run(1);
  assert.equal(fake.shares.get('calm'), 512);
});

test('a guest a previous lodged lowered stays lowered until it is quiet', async (t) => {
  const { fake, weigher, run } = await withGuests(t);
  fake.shares.set('spin', 256);
  await run(1, 0.5);
  assert.equal(fake.writes, 0);
  assert.equal(weigher.status().guests.find((g) => g.name === 'spin')?.lowered, true);
  await run(6, 0);
  assert.equal(fake.shares.get('spin'), 1024);
});

test('paused, in dry run, or out of the loop, no weight is set', async (t) => {
  const paused = await withGuests(t);
  paused.paused.on = true;
  await paused.run(15);
  assert.equal(paused.fake.writes, 0);
  assert.equal(cpuOps(paused.h).length, 0);
  assert.equal(paused.weigher.status().guests.find((g) => g.name === 'spin')?.how, 'spin used 100% of a CPU for 10 s');

  const dry = await withGuests(t, true);
  await dry.run(15);
  assert.equal(dry.fake.writes, 0);
  const ops = cpuOps(dry.h);
  assert.equal(ops.length, 1, 'the dry run keeps its own book: once');
  assert.match(ops[0]!.reason ?? '', /^dry run: would have: spin used 100% of a CPU/);
  assert.equal(dry.weigher.status().guests.find((g) => g.name === 'spin')?.shares, 256);

  const off = await withGuests(t);
  await off.h.guests.update('spin', { autonomic: 'off' });
  await off.run(15);
  assert.equal(off.fake.writes, 0);
  assert.match(off.weigher.status().guests.find((g) => g.name === 'spin')?.how ?? '', /out of the loop \(--autonomic off/);
});
