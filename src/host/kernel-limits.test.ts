import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kernelLimits, limitsToRaise } from './kernel-limits.js';

test('only limits below their minimum are raised; higher ones and missing ones are left alone', () => {
  const current = new Map([
    ['kernel.keys.maxkeys', 200],
    ['kernel.pid_max', 4_194_304],
    ['fs.inotify.max_user_instances', 100_000],
  ]);
  const raise = limitsToRaise(current);
  assert.deepEqual(
    raise.map((l) => [l.sysctl, l.from, l.minimum]),
    [['kernel.keys.maxkeys', 200, 20_000]],
  );
  assert.ok(kernelLimits.every((l) => l.why.length > 0));
});
