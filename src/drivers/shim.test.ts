import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanExit, describeExit } from './shim.js';

test('the exit record reads as how the guest ended; a damaged one still reads as ended', () => {
  assert.equal(describeExit('exit 0\n'), 'exited with code 0');
  assert.equal(describeExit('signal 9\n'), 'killed by signal 9');
  for (const bad of ['', 'exit', 'signal x\n', 'exit 0\nextra', '\0\0\0']) assert.equal(describeExit(bad), 'it ended, and its exit record is unreadable', JSON.stringify(bad));
});

test('a clean end is exit 0, or a signal the kind names as its poweroff; a damaged record is no clean end', () => {
  assert.equal(cleanExit('exit 0\n', []), true);
  assert.equal(cleanExit('exit 3\n', [2]), false);
  assert.equal(cleanExit('signal 2\n', [2]), true);
  assert.equal(cleanExit('signal 2\n', []), false);
  assert.equal(cleanExit('signal 9\n', [2]), false);
  for (const bad of ['', 'exit', 'exit 0\nextra']) assert.equal(cleanExit(bad, [2]), false, JSON.stringify(bad));
});
