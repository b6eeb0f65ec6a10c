import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTrace } from './traces.js';

const lines = (n: number, v = '7') => Array.from({ length: n }, () => v).join('\n') + '\n';

test('288 percentages become fractions, with the last repeated as a 289th point', () => {
  const u = parseTrace(lines(287) + '99\n', 'f');
  assert.equal(u.length, 289);
  assert.equal(u[0], 0.07);
  assert.equal(u[287], 0.99);
  assert.equal(u[288], 0.99);
});

test('a file of the wrong length or with a non-percentage is refused, naming the file and line', () => {
  assert.throws(() => parseTrace(lines(287), 'day/a b'), /day\/a b: 287 lines/);
  assert.throws(() => parseTrace(lines(10) + 'x\n' + lines(277), 'f'), /f: line 11 is "x"/);
  assert.throws(() => parseTrace(lines(287) + '101\n', 'f'), /line 288/);
});
