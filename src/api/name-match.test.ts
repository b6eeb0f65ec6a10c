import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nameMatches } from './name-match.js';

test('a plain pattern is a part of the name', () => {
  assert.equal(nameMatches('web', 'web1'), true);
  assert.equal(nameMatches('eb', 'web1'), true);
  assert.equal(nameMatches('db', 'web1'), false);
});

test('a glob matches the whole name', () => {
  assert.equal(nameMatches('web*', 'web1'), true);
  assert.equal(nameMatches('web*', 'myweb1'), false);
  assert.equal(nameMatches('*b?', 'web1'), true);
  assert.equal(nameMatches('w?b', 'web1'), false);
});

test('other characters of a glob are themselves, not regular expression syntax', () => {
  assert.equal(nameMatches('a.c*', 'abc1'), false);
  assert.equal(nameMatches('a.c*', 'a.c1'), true);
  assert.equal(nameMatches('(a|b)*', 'a'), false);
});

test('a glob of many stars against a long name answers at once, not by backtracking', () => {
  const hostile = `${'*a'.repeat(12)}*b`;
  const started = performance.now();
  assert.equal(nameMatches(hostile, 'a'.repeat(40)), false);
  assert.equal(nameMatches(hostile, `${'a'.repeat(40)}b`), true);
  assert.ok(performance.now() - started < 100, 'the hostile pattern took too long');
});

test('stars and question marks match empty runs and single characters', () => {
  assert.equal(nameMatches('*', ''), true);
  assert.equal(nameMatches('**web**', 'web'), true);
  assert.equal(nameMatches('w*b*1', 'wxbyb1'), true);
  assert.equal(nameMatches('w*b?1', 'wxbyb1'), false);
  assert.equal(nameMatches('?', ''), false);
  assert.equal(nameMatches('*?', 'a'), true);
});
