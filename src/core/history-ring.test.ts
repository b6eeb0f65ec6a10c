import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HistoryRing } from './history-ring.js';

test('a counter becomes its rate per second between samples, a gauge is as read; the first sample has no rate', () => {
  const ring = new HistoryRing(['cpu', 'memory'] as const, 10);
  ring.push(100, { cpu: 1, memory: 500 });
  ring.push(110, { cpu: 6, memory: 700 });
  ring.push(115, { cpu: 8.5, memory: 600 });
  assert.deepEqual(ring.time(), [100, 110, 115]);
  assert.deepEqual(ring.rate('cpu'), [null, 0.5, 0.5]);
  assert.deepEqual(ring.gauge('memory'), [500, 700, 600]);
  assert.equal(ring.lastRate('cpu'), 0.5);
  assert.equal(ring.lastGauge('memory'), 600);
});

test('a counter that went down (a restart) or a missing value leaves a gap, not a negative or invented rate', () => {
  const ring = new HistoryRing(['disk'] as const, 10);
  ring.push(0, { disk: 1000 });
  ring.push(10, { disk: 2000 });
  ring.push(20, { disk: 50 });
  ring.push(30, {});
  ring.push(40, { disk: 150 });
  ring.push(50, { disk: 250 });
  assert.deepEqual(ring.rate('disk'), [null, 100, null, null, null, 10]);
  assert.deepEqual(ring.gauge('disk'), [1000, 2000, 50, null, 150, 250]);
});

test('a full ring keeps the latest samples, oldest first, in the memory it was made with', () => {
  const ring = new HistoryRing(['x'] as const, 3);
  assert.equal(ring.lastRate('x'), null);
  assert.equal(ring.lastGauge('x'), null);
  for (let t = 1; t <= 7; t++) ring.push(t, { x: t * t });
  assert.equal(ring.length, 3);
  assert.deepEqual(ring.time(), [5, 6, 7]);
  assert.deepEqual(ring.gauge('x'), [25, 36, 49]);
  assert.deepEqual(ring.rate('x'), [null, 11, 13]);
});
