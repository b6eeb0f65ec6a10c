import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyedLock } from './locks.js';

test('actions on one key run in order, a failure does not block the next', async () => {
  const lock = new KeyedLock();
  const order: string[] = [];
  const a = lock.with('g', async () => {
    await sleep(20);
    order.push('a');
    throw new Error('a failed');
  });
  const b = lock.with('g', async () => order.push('b'));
  await assert.rejects(a, /a failed/);
  await b;
  assert.deepEqual(order, ['a', 'b']);
});

test('different keys do not wait for each other', async () => {
  const lock = new KeyedLock();
  const order: string[] = [];
  const slow = lock.with('x', async () => {
    await sleep(30);
    order.push('x');
  });
  await lock.with('y', async () => order.push('y'));
  await slow;
  assert.deepEqual(order, ['y', 'x']);
});

test("a key's mark is undefined while an action holds it, and differs once one has run", async () => {
  const lock = new KeyedLock();
  const before = lock.mark('g');
  assert.notEqual(before, undefined);
  const running = lock.with('g', () => sleep(10));
  assert.equal(lock.mark('g'), undefined);
  await running;
  assert.notEqual(lock.mark('g'), undefined);
  assert.notEqual(lock.mark('g'), before, 'an action ran in between');
  assert.equal(lock.mark('h'), lock.mark('h'), 'nothing ran on h');
});
