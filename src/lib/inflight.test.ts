import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inflight } from './inflight.js';

test('concurrent callers of one key share one run; a later call runs again', async () => {
  const inflight = new Inflight<number>();
  let runs = 0;
  const make = async () => {
    runs++;
    await sleep(10);
    return runs;
  };
  const [a, b] = await Promise.all([inflight.run('k', make), inflight.run('k', make)]);
  assert.deepEqual([a, b, runs], [1, 1, 1]);
  assert.equal(await inflight.run('k', make), 2);
  assert.equal(await inflight.run('other', make), 3);
});
