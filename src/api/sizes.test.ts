import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSize, parseSize } from './sizes.js';

test('parseSize reads the units people write', () => {
  assert.equal(parseSize('256M'), 256 * 1024 * 1024);
  assert.equal(parseSize('1.5G'), 1.5 * 1024 ** 3);
  assert.equal(parseSize('512'), 512);
  assert.equal(parseSize('64KiB'), 64 * 1024);
});

test('parseSize refuses what is not a size', () => {
  for (const bad of ['', 'M', '12X', '-1M', '1,5G', 'lots']) assert.equal(parseSize(bad), undefined, bad);
});

test('formatSize is short', () => {
  assert.equal(formatSize(256 * 1024 * 1024), '256M');
  assert.equal(formatSize(1536 * 1024 * 1024), '1.5G');
  assert.equal(formatSize(100), '100B');
});
