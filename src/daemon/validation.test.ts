/**
 * Depth is measured before parsing (strings and escapes do not count), and a frame checker
 * turns every bad frame into a BAD_REQUEST that names the field, never another exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LodgeError } from '../api/errors.js';
import { ExecControlFrame } from '../api/guests.js';
import { frameChecker, jsonTooDeep } from './validation.js';

test('JSON depth counts arrays and objects, not brackets inside strings', () => {
  assert.equal(jsonTooDeep('{"a":[[1]]}', 3), false);
  assert.equal(jsonTooDeep('{"a":[[[1]]]}', 3), true);
  assert.equal(jsonTooDeep(`{"a":"${'['.repeat(100)}"}`, 3), false);
  assert.equal(jsonTooDeep(`{"a":"\\"${'{'.repeat(100)}"}`, 3), false);
  const started = Date.now();
  assert.equal(jsonTooDeep('['.repeat(1 << 20)), true);
  assert.ok(Date.now() - started < 500, 'a 1 MiB body is one quick scan');
});

test('a bad control frame is a BAD_REQUEST naming what is wrong', () => {
  const check = frameChecker(ExecControlFrame, 'exec control frame');
  assert.deepEqual(check('{"resize":[80,24]}'), { resize: [80, 24] });
  const cases: Array<[string, RegExp]> = [
    ['not json', /^exec control frame: is not valid JSON$/],
    ['{"resize":[-1,-1]}', /^exec control frame: resize\.0: must be >= 1$/],
    ['{"resize":[80,100000]}', /^exec control frame: resize\.1: must be <= 1000$/],
    ['{"resize":[80]}', /^exec control frame: resize: must NOT have fewer than 2 items$/],
    ['{"size":[80,24]}', /^exec control frame: (resize: is required|size: unknown field)$/],
    ['null', /^exec control frame: must be object$/],
    [`${'['.repeat(1000)}${']'.repeat(1000)}`, /^exec control frame: nests deeper than 32 levels$/],
  ];
  for (const [frame, message] of cases) {
    assert.throws(() => check(frame), (e: unknown) => e instanceof LodgeError && e.code === 'BAD_REQUEST' && message.test(e.message), frame.slice(0, 30));
  }
});
