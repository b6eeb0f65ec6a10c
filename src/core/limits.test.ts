import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveLimits } from './limits.js';

const host = 8 * 1024 ** 3;

test('limits resolve to numbers', () => {
  assert.deepEqual(resolveLimits({ cpu: 2, memory: '256M', processes: 50 }, host), { cpu: 2, memoryBytes: 256 * 1024 ** 2, processes: 50 });
  assert.deepEqual(resolveLimits({}, host), {});
});

test('bad limits name the field', () => {
  assert.throws(() => resolveLimits({ memory: '12Q' }, host), { code: 'BAD_REQUEST', message: /limits\.memory: "12Q" is not a size/ });
  assert.throws(() => resolveLimits({ memory: '1M' }, host), { message: /limits\.memory: 1M is below/ });
  assert.throws(() => resolveLimits({ memory: '9G' }, host), { message: /more than this host has/ });
  assert.throws(() => resolveLimits({ swap: '1G' }, host), { message: /limits\.swap: needs limits\.memory/ });
});
