import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryBounds, resolveLimits } from './limits.js';

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

test('a memory floor is at most the ceiling, a quarter of it unasked, named when wrong', () => {
  const M = 1024 ** 2;
  assert.deepEqual(memoryBounds({ memory: '256M' }, undefined), { floorBytes: 64 * M, ceilingBytes: 256 * M });
  assert.deepEqual(memoryBounds({ memory: '256M', memoryFloor: '100M' }, undefined), { floorBytes: 100 * M, ceilingBytes: 256 * M });
  assert.equal(memoryBounds({}, undefined), undefined, 'a container without a limit has no ceiling');
  // a kind that boots its own kernel: its default is the ceiling, its minimum the least floor
  const vm = { minimumBytes: 96 * M, defaultBytes: 256 * M };
  assert.deepEqual(memoryBounds({}, vm), { floorBytes: 96 * M, ceilingBytes: 256 * M });
  assert.throws(() => memoryBounds({ memory: '256M', memoryFloor: '300M' }, undefined), { code: 'BAD_REQUEST', message: /^limits\.memoryFloor: 300M is above the memory ceiling 256M/ });
  assert.throws(() => memoryBounds({ memoryFloor: '300M' }, vm), { message: /^limits\.memoryFloor: 300M is above the memory ceiling 256M \(the default\)/ });
  assert.throws(() => memoryBounds({ memoryFloor: '64M' }, undefined), { message: /^limits\.memoryFloor: needs limits\.memory/ });
  assert.throws(() => memoryBounds({ memory: '256M', memoryFloor: '64M' }, vm), { message: /^limits\.memoryFloor: 64M is below the 96M/ });
  assert.throws(() => resolveLimits({ memory: '256M', memoryFloor: 'lots' }, host), { message: /^limits\.memoryFloor: "lots" is not a size/ });
});
