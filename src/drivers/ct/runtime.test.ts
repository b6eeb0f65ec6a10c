import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runtimeSignal } from './runtime.js';

test('realtime signal names become numbers the runtime accepts', () => {
  assert.equal(runtimeSignal('SIGRTMIN+4'), '38');
  assert.equal(runtimeSignal('SIGRTMIN+3'), '37');
  assert.equal(runtimeSignal('SIGRTMIN'), '34');
  assert.equal(runtimeSignal('SIGRTMAX-1'), '63');
  assert.equal(runtimeSignal('SIGUSR2'), 'SIGUSR2');
  assert.throws(() => runtimeSignal('SIGRTMIN+40'), /not a realtime signal/);
});
