import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeExit } from './shim.js';

test('the exit record reads as how the guest ended; a damaged one still reads as ended', () => {
  assert.equal(describeExit('exit 0\n'), 'exited with code 0');
  assert.equal(describeExit('signal 9\n'), 'killed by signal 9');
  for (const bad of ['', 'exit', 'signal x\n', 'exit 0\nextra', '\0\0\0']) assert.equal(describeExit(bad), 'it ended, and its exit record is unreadable', JSON.stringify(bad));
});
