import { test } from 'node:test';
import assert from 'node:assert/strict';
import { balloonAvailableBytes } from './balloon.js';

const M = 1024 * 1024;

test("a balloon's guest-stats give what the guest could still use: its available memory, or free and caches", () => {
  const stats = { 'stat-total-memory': 240 * M, 'stat-available-memory': 200 * M, 'stat-free-memory': 180 * M, 'stat-disk-caches': 10 * M };
  assert.equal(balloonAvailableBytes({ stats, 'last-update': 1700000000 }), 200 * M);
  // an older kernel without available: free and caches
  assert.equal(balloonAvailableBytes({ stats: { ...stats, 'stat-available-memory': -1 }, 'last-update': 1 }), 190 * M);
});

test('no reading before the guest reports, nor from an answer that is not numbers', () => {
  assert.equal(balloonAvailableBytes({ stats: { 'stat-available-memory': -1, 'stat-free-memory': -1 }, 'last-update': 0 }), undefined);
  assert.equal(balloonAvailableBytes({ stats: { 'stat-available-memory': 'lots' }, 'last-update': 5 }), undefined);
  assert.equal(balloonAvailableBytes({ stats: { 'stat-free-memory': 1e300 }, 'last-update': 5 }), undefined);
  assert.equal(balloonAvailableBytes(null), undefined);
  assert.equal(balloonAvailableBytes('x'), undefined);
});
