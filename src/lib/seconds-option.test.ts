import { test } from 'node:test';
import assert from 'node:assert/strict';
import { secondsOption } from './seconds-option.js';

test('a seconds option is read into milliseconds within its range, its default when not given', () => {
  const window = (v: string | undefined) => secondsOption('--autonomic-cpu-window', v, 60_000, { min: 2, max: 3600, whole: true });
  assert.equal(window(undefined), 60_000);
  assert.equal(window('4'), 4000);
  for (const bad of ['1', '1.5', 'x', '', '3601']) assert.throws(() => window(bad), /^Error: --autonomic-cpu-window: ".*" is not a number of whole seconds from 2 to 3600$/);
  assert.equal(secondsOption('--autostart-delay', '0.5', 2000, { min: 0, max: 3600 }), 500);
});
