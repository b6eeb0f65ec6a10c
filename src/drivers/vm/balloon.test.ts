import { test } from 'node:test';
import assert from 'node:assert/strict';
import { balloonUsedBytes } from './balloon.js';

const M = 1024 * 1024;

test("a balloon's guest-stats give what the guest uses: its total less what it says is available", () => {
  const stats = { 'stat-total-memory': 240 * M, 'stat-available-memory': 200 * M, 'stat-free-memory': 180 * M, 'stat-disk-caches': 10 * M };
  assert.equal(balloonUsedBytes({ stats, 'last-update': 1700000000 }), 40 * M);
  // an older kernel without available: free and caches
  assert.equal(balloonUsedBytes({ stats: { ...stats, 'stat-available-memory': -1 }, 'last-update': 1 }), 50 * M);
});

test('no reading before the guest reports, nor from an answer that is not numbers', () => {
  assert.equal(balloonUsedBytes({ stats: { 'stat-total-memory': -1 }, 'last-update': 0 }), undefined);
  assert.equal(balloonUsedBytes({ stats: { 'stat-total-memory': 'lots', 'stat-available-memory': 1 }, 'last-update': 5 }), undefined);
  assert.equal(balloonUsedBytes({ stats: { 'stat-total-memory': 1e300, 'stat-free-memory': 1 }, 'last-update': 5 }), undefined);
  assert.equal(balloonUsedBytes(null), undefined);
  assert.equal(balloonUsedBytes('x'), undefined);
});
