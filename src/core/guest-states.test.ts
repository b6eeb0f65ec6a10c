import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAction, checkDelete, checkShowing } from './guest-states.js';

test('actions allowed in their states', () => {
  checkAction('g', 'stopped', 'start');
  checkAction('g', 'running', 'pause');
  checkAction('g', 'paused', 'resume');
  checkAction('g', 'paused', 'stop');
});

test('actions in the wrong state are a conflict that says why', () => {
  assert.throws(() => checkAction('web1', 'stopped', 'pause'), { code: 'CONFLICT', message: /cannot pause web1: it is stopped/ });
  assert.throws(() => checkAction('web1', 'running', 'start'), { code: 'CONFLICT' });
  assert.throws(() => checkAction('web1', 'running', 'resume'), { code: 'CONFLICT' });
});

test('deleting a running guest needs force', () => {
  assert.throws(() => checkDelete('web1', 'running', false), { code: 'CONFLICT', message: /use force/ });
  checkDelete('web1', 'running', true);
  checkDelete('web1', 'stopped', false);
});

test('a screen shows a running or paused guest; a stopped one is a conflict that says to start it', () => {
  checkShowing('vm1', 'running');
  checkShowing('vm1', 'paused');
  assert.throws(() => checkShowing('vm1', 'stopped'), { code: 'CONFLICT', message: 'cannot show the screen of vm1: it is stopped: start it' });
  assert.throws(() => checkShowing('vm1', 'error'), { code: 'CONFLICT', message: 'cannot show the screen of vm1: it is in error: start it' });
  assert.throws(() => checkShowing('vm1', 'creating'), { code: 'CONFLICT', message: 'cannot show the screen of vm1: it is creating' });
});
