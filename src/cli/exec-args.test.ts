import { test } from 'node:test';
import assert from 'node:assert/strict';
import { separateExecCommand } from './exec-args.js';

test('without --, the command begins at the first word after the name and its options', () => {
  assert.deepEqual(separateExecCommand(['exec', 'web1', 'ls', '-la']), ['exec', 'web1', '--', 'ls', '-la']);
  assert.deepEqual(separateExecCommand(['exec', '-t', 'web1', 'sh']), ['exec', '-t', 'web1', '--', 'sh']);
  assert.deepEqual(separateExecCommand(['exec', 'web1', '-t', '--cwd', '/srv', 'sh', '-c', 'ls -t']), ['exec', 'web1', '-t', '--cwd', '/srv', '--', 'sh', '-c', 'ls -t']);
  assert.deepEqual(separateExecCommand(['exec', '-e', 'A=1', '--env', 'B=2', 'web1', 'env']), ['exec', '-e', 'A=1', '--env', 'B=2', 'web1', '--', 'env']);
  assert.deepEqual(separateExecCommand(['--remote', 'exec', 'exec', 'web1', 'ps']), ['--remote', 'exec', 'exec', 'web1', '--', 'ps']);
});

test('a command line with --, of another command, or without a command is left as it is', () => {
  for (const args of [
    ['exec', 'web1', '--', 'ls', '-la'],
    ['exec', 'web1', '-t', '--', 'sh'],
    ['exec', 'web1'],
    ['exec', 'web1', '-t'],
    ['list', 'web1', 'ls'],
    ['console', 'exec', 'ls'],
    ['--remote', 'far', 'launch', 'busybox', 'exec'],
  ]) {
    assert.deepEqual(separateExecCommand(args), args);
  }
});
