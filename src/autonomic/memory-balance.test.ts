import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultGuestMemory, isIdle, isShort, keepBytes, planMemory, starved, type MemoryGuest } from './memory-balance.js';

const M = 1024 * 1024;
const ct = (name: string, allocation: number, used: number, over: Partial<MemoryGuest> = {}): MemoryGuest => ({
  name,
  floorBytes: 64 * M,
  ceilingBytes: 256 * M,
  allocationBytes: allocation * M,
  usedBytes: used * M,
  mechanism: 'cgroup limit',
  ...over,
});
const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

test('when the ceilings fit the budget, every guest holds its ceiling and nothing else moves', () => {
  const plan = planMemory(1024 * M, [ct('a', 256, 250), ct('b', 128, 10), ct('c', 256, 10, { mechanism: undefined })]);
  assert.equal(plan.overcommitted, false);
  assert.deepEqual(plan.moves.map((m) => [m.guest, m.toBytes / M]), [['b', 256]]);
  assert.match(plan.moves[0]!.reason, /fit the guest memory budget \(1G/);
  assert.deepEqual(planMemory(1024 * M, [ct('a', 256, 250)]).moves, []);
});

test('overcommitted: a guest new to the loop is given its fair share, never below its use and a margin', () => {
  const plan = planMemory(384 * M, [ct('a', 128, 20), ct('b', 256, 10, { isNew: true })]);
  assert.equal(plan.allocations.get('b'), 192 * M);
  assert.match(plan.moves[0]!.reason, /b is given its fair share, 192M.* of its 256M.* ceiling \(cgroup limit\)/);
  // one that already uses more than its share keeps what it uses and a margin
  const busy = planMemory(384 * M, [ct('a', 128, 20), ct('b', 256, 200, { isNew: true })]);
  assert.equal(busy.allocations.get('b'), 250 * M);
});

test('a short guest gets memory from an idle one, never below the idle one\'s use and margin nor its floor', () => {
  // budget full: a 128 + b 128 = 256
  const plan = planMemory(256 * M, [ct('web3', 128, 124, { shortForMs: 10_000 }), ct('db2', 128, 20)]);
  const [move] = plan.moves;
  assert.equal(plan.moves.length, 1);
  assert.equal(move!.guest, 'web3');
  assert.deepEqual(move!.takes, [{ guest: 'db2', fromBytes: 128 * M, toBytes: 64 * M, mechanism: 'cgroup limit' }]);
  assert.equal(plan.allocations.get('web3'), 192 * M);
  assert.equal(plan.allocations.get('db2'), 64 * M, 'its floor: its use and a margin is less');
  assert.equal(total(plan.allocations), 256 * M, 'the budget is kept');
  assert.equal(move!.reason, 'web3 used 97% of its 128MB for 10 s; took 64MB from idle db2 (cgroup limit, it uses 20MB of 128MB), gave it to web3 (cgroup limit): 128MB -> 192MB of its 256MB ceiling');
  // an idle guest that uses more than its floor keeps its use and a quarter
  const bigger = planMemory(512 * M, [ct('web3', 256, 250, { ceilingBytes: 512 * M }), ct('db2', 256, 100)]);
  assert.equal(bigger.allocations.get('db2'), 125 * M);
  assert.ok(bigger.allocations.get('db2')! >= keepBytes(ct('db2', 256, 100)));
});

test('free budget is given first, and no guest passes its ceiling', () => {
  const plan = planMemory(600 * M, [ct('a', 240, 230), ct('b', 200, 20), ct('c', 100, 10)]);
  // a wants max(240 + 32, 230 / 0.6 = 384) but its ceiling is 256: 16 more, all from the 160 free
  assert.equal(plan.allocations.get('a'), 256 * M);
  assert.deepEqual(plan.moves[0]!.takes, []);
  assert.match(plan.moves[0]!.reason, /took 16MB the budget had free/);
  assert.equal(plan.allocations.get('b'), 200 * M);
});

test('a guest that is neither short nor idle gives nothing; one without a live mechanism neither gives nor gets', () => {
  const guests = [ct('a', 128, 120), ct('b', 128, 80), ct('pv1', 128, 10, { mechanism: undefined })];
  const plan = planMemory(384 * M, guests);
  assert.deepEqual(plan.moves, []);
  assert.deepEqual(starved(384 * M, guests, plan), [{ name: 'a', reason: 'a used 94% of its 128MB and no memory was free or idle within the budget (384MB)' }]);
  const pvShort = planMemory(384 * M, [ct('pv1', 128, 127, { mechanism: undefined }), ct('b', 256, 10)]);
  assert.deepEqual(pvShort.moves, []);
});

test('over the budget, guests that are not short give back down to their keep, largest surplus first', () => {
  // b came at its ceiling and uses most of it: 128 + 256 = 384 > 320
  const plan = planMemory(320 * M, [ct('a', 128, 10), ct('b', 256, 200, { isNew: true })]);
  assert.equal(total(plan.allocations), 320 * M);
  assert.equal(plan.allocations.get('a'), 70 * M, 'the excess alone, above its floor');
  assert.equal(plan.allocations.get('b'), 250 * M);
  assert.match(plan.moves.find((m) => m.guest === 'a')!.reason, /exceed the guest memory budget \(320MB\) by 58MB: a gives 58MB back/);
});

test('the vm path: a balloon is moved as a cgroup limit is, within the vm\'s floor', () => {
  const vm = (name: string, alloc: number, used: number): MemoryGuest => ({ name, floorBytes: 128 * M, ceilingBytes: 512 * M, allocationBytes: alloc * M, usedBytes: used * M, mechanism: 'balloon' });
  const plan = planMemory(768 * M, [vm('vm1', 384, 370), vm('vm2', 384, 40)]);
  // vm1 wants its use at 60% (617M), which its ceiling caps at 512M: 128M from vm2, which could give 256M
  assert.equal(plan.allocations.get('vm1'), 512 * M);
  assert.equal(plan.allocations.get('vm2'), 256 * M);
  const tight = planMemory(640 * M, [vm('vm1', 384, 370), vm('vm2', 256, 40)]);
  assert.equal(tight.allocations.get('vm2'), 128 * M, 'its floor');
  assert.equal(tight.allocations.get('vm1'), 512 * M);
  assert.match(plan.moves[0]!.reason, /from idle vm2 \(balloon/);
});

test('short and idle as the loop reads them', () => {
  assert.equal(isShort(ct('a', 100, 85)), true);
  assert.equal(isShort(ct('a', 100, 84)), false);
  assert.equal(isShort(ct('a', 256, 255)), false, 'at its ceiling there is nothing to give it');
  assert.equal(isIdle(ct('a', 100, 49)), true);
  assert.equal(isIdle(ct('a', 100, 50)), false);
});

test("the budget keeps the host's reserve: 1 GiB, or a tenth of a larger host's memory", () => {
  assert.equal(defaultGuestMemory(24 * 1024 * M), 22118 * M);
  assert.equal(defaultGuestMemory(4 * 1024 * M), 3 * 1024 * M);
});

test('what the budget has free goes back to the guests under their fair share, the furthest under first', () => {
  // idle gave its memory for a newcomer counted at its ceiling until it could be read; now it holds its share
  const plan = planMemory(384 * M, [ct('idle', 64, 1), ct('vm', 192, 60, { mechanism: 'balloon' })]);
  assert.deepEqual(plan.moves.map((m) => [m.guest, m.fromBytes / M, m.toBytes / M]), [['idle', 64, 192]]);
  assert.equal(plan.moves[0]!.reason, 'the guest memory budget (384MB) has 128MB free: idle gets back towards its fair share (cgroup limit): 64MB -> 192MB of its 256MB ceiling');
  // less free (20) than both lack (shares of 133): the one furthest under first, and the budget holds
  const short = planMemory(400 * M, [ct('a', 100, 1), ct('b', 80, 1), ct('c', 200, 100)]);
  assert.deepEqual(short.moves.map((m) => [m.guest, m.toBytes / M]), [['b', 100]]);
  assert.equal(total(short.allocations), 400 * M);
});
