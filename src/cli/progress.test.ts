import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countdownText } from './progress.js';

test('a deadline is counted down in whole seconds, then said to be now', () => {
  const deadline = { at: 10_000, what: 'killed' };
  assert.equal(countdownText('asking init to stop (SIGTERM) for 5 s', deadline, 5_000), 'asking init to stop (SIGTERM) for 5 s: killed in 5 s');
  assert.equal(countdownText('asking', deadline, 8_200), 'asking: killed in 2 s');
  assert.equal(countdownText('asking', deadline, 10_000), 'asking: killed now');
});
