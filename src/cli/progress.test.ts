import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countdownText } from './progress.js';

test('a deadline is counted down in whole seconds, then said to be now', () => {
  const deadline = { at: 10_000, what: 'killed', during: 'for 5 s' };
  assert.equal(countdownText('asking init to stop (SIGTERM) for 5 s', deadline, 5_000), 'asking init to stop (SIGTERM) for 5 s: killed in 5 s');
  assert.equal(countdownText('asking it to shut down for 5 s', deadline, 8_200), 'asking it to shut down for 5 s: killed in 2 s');
  assert.equal(countdownText('asking it to shut down for 5 s', deadline, 10_000), 'asking it to shut down for 5 s: killed now');
  // once the step changes (the guest ended, a restart starts it), the countdown is over
  assert.equal(countdownText('starting', deadline, 11_000), 'starting');
});
