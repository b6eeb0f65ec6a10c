import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Revert } from './revert.js';

test('undos run newest first and a failing undo does not stop the rest', async () => {
  const done: string[] = [];
  const revert = new Revert();
  revert.add('a', () => done.push('a'));
  revert.add('b', () => {
    throw new Error('boom');
  });
  revert.add('c', async () => done.push('c'));
  const logged: string[] = [];
  await revert.fail((m) => logged.push(m));
  assert.deepEqual(done, ['c', 'a']);
  assert.match(logged[0]!, /undo of b failed: boom/);
});

test('success drops the undos', async () => {
  const done: string[] = [];
  const revert = new Revert();
  revert.add('a', () => done.push('a'));
  revert.success();
  await revert.fail();
  assert.deepEqual(done, []);
});
