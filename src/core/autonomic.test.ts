/**
 * The loop over GuestService with a fake engine and mocked timers: what a system test cannot
 * wait for (ten failed starts with their doubling waits, then giving up), and that an action
 * through Lodge takes over from what the loop had planned.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { GuestSpec, OperationContext } from '../drivers/driver.js';
import { AutonomicService } from './autonomic.js';
import { FakeDriver } from './fake-driver.test-support.js';
import { settled, setup, type Harness } from './guest-harness.test-support.js';

/** A fake whose starts fail while `broken`, as an engine whose bundle went bad. */
class BreakableDriver extends FakeDriver {
  broken = false;
  override async start(spec: GuestSpec, ctx: OperationContext): Promise<void> {
    if (this.broken) throw new Error('runc create: the bundle is broken');
    return super.start(spec, ctx);
  }
}

/** Its engine ends on its own, as the shim would record it. */
function end(fake: FakeDriver, name: string, reason: string): void {
  for (const g of fake.guests.values()) if (g.name === name) Object.assign(g, { engine: 'ended', reason });
}

async function loopOver(t: TestContext, fake: FakeDriver): Promise<{ h: Harness; loop: AutonomicService; advanceUntil: (done: () => boolean, maxMs: number) => Promise<void> }> {
  const h = await setup(t, [fake]);
  await settled(h, h.guests.launch({ name: 'c1', image: 'base', kind: 'ct', networks: [], restart: 'on-failure' }));
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: Date.now() });
  const loop = new AutonomicService({ store: h.store, guests: h.guests, operations: h.operations, events: h.deps.events, log: () => {} });
  loop.start();
  t.after(() => loop.stop());
  /** Moves the clock 100 ms at a time, letting the loop's work (real file I/O) run in between. */
  const advanceUntil = async (done: () => boolean, maxMs: number) => {
    for (let ms = 0; !done(); ms += 100) {
      assert.ok(ms <= maxMs, `not done after ${maxMs} ms`);
      t.mock.timers.tick(100);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    }
  };
  return { h, loop, advanceUntil };
}

test('a guest whose starts keep failing is tried 10 times, each wait twice the last, then given up, saying so', async (t) => {
  const fake = new BreakableDriver('ct');
  const { h, loop, advanceUntil } = await loopOver(t, fake);
  fake.broken = true;
  end(fake, 'c1', 'killed by signal 9');
  const actions = () => loop.actions(100).filter((o) => o.status !== 'running').reverse();
  await advanceUntil(() => actions().some((o) => o.action === 'autonomic.give-up'), 1200_000);
  const ops = actions();
  // doubling from 1 s, at most 5 min
  const waits = ['1 s', '2 s', '4 s', '8 s', '16 s', '32 s', '1 min 4 s', '2 min 8 s', '4 min 16 s', '5 min'];
  assert.deepEqual(
    ops.map((o) => [o.action, o.status, o.reason]),
    [
      ['autonomic.restart', 'failure', 'c1 killed by signal 9; restarting it (on-failure, attempt 1, after 1 s)'],
      ...[2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => [
        'autonomic.restart',
        'failure',
        `c1 failed to start (runc create: the bundle is broken); restarting it (on-failure, attempt ${n}, after ${waits[n - 1]})`,
      ]),
      ['autonomic.give-up', 'success', 'c1 failed to start (runc create: the bundle is broken); gave up restarting it (on-failure) after 10 failed starts in a row: start it when it is fixed'],
    ],
  );
  // each attempt came its wait after the one before (the mocked clock moves 100 ms at a time)
  for (let i = 1; i < 10; i++) {
    const gap = Date.parse(ops[i]!.createdAt) - Date.parse(ops[i - 1]!.createdAt);
    const wait = Math.min(2 ** i, 300) * 1000;
    assert.ok(gap >= wait && gap <= wait + 200, `wait before attempt ${i + 1}: ${gap} ms, not ${wait}`);
  }
  const g = h.store.guest('c1')!;
  assert.deepEqual([g.state, g.stateReason], ['error', ops.at(-1)!.reason]);
  const status = loop.status();
  assert.deepEqual(status.guests, [{ name: 'c1', restart: 'on-failure', state: 'error', restarts: 10, gaveUp: true }]);
  assert.equal(status.nextDue, undefined);
  // nothing more comes
  t.mock.timers.tick(600_000);
  assert.equal(actions().length, 11);
});

test('a start through Lodge takes over: what the loop had due is dropped and its count starts again; pause is kept in the store', async (t) => {
  const fake = new BreakableDriver('ct');
  const { h, loop, advanceUntil } = await loopOver(t, fake);
  end(fake, 'c1', 'exited with code 1');
  await advanceUntil(() => loop.status().nextDue !== undefined, 5000);
  assert.equal(loop.status().guests[0]!.restarts, 1);
  assert.equal((await settled(h, h.guests.changeState('c1', { action: 'start' }))).status, 'success');
  assert.deepEqual(loop.status(), { paused: false, guests: [{ name: 'c1', restart: 'on-failure', state: 'running', restarts: 0 }] });
  t.mock.timers.tick(5000);
  assert.deepEqual(loop.actions(10), [], 'the loop did nothing');

  loop.pause();
  const again = new AutonomicService({ store: h.store, guests: h.guests, operations: h.operations, events: h.deps.events, log: () => {} });
  assert.equal(again.status().paused, true, 'a lodged started again finds the loop paused');
  assert.equal(loop.resume().paused, false);
});

test('a stop asked of a guest that has already ended is refused, and still drops the restart the loop had due', async (t) => {
  const fake = new BreakableDriver('ct');
  const { h, loop, advanceUntil } = await loopOver(t, fake);
  end(fake, 'c1', 'exited with code 1');
  await advanceUntil(() => loop.status().nextDue !== undefined, 5000);
  assert.throws(() => h.guests.changeState('c1', { action: 'stop' }), /stopped/);
  assert.equal(loop.status().nextDue, undefined);
  t.mock.timers.tick(5000);
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(loop.actions(10), [], 'the loop did nothing');
  assert.equal(h.store.guest('c1')!.state, 'stopped');
});
