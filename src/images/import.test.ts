import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unsafeEntry } from './import.js';

test('entries inside the root are accepted', () => {
  for (const e of [
    { path: 'bin/busybox', type: 'File' },
    { path: 'bin/sh', type: 'SymbolicLink', linkpath: '/bin/busybox' },
    { path: 'usr/bin/env', type: 'SymbolicLink', linkpath: '../../bin/busybox' },
    { path: 'bin/ash', type: 'Link', linkpath: 'bin/busybox' },
    { path: './etc/', type: 'Directory' },
  ]) assert.equal(unsafeEntry(e), undefined, e.path);
});

test('entries that escape the root are named', () => {
  assert.match(unsafeEntry({ path: '/etc/passwd', type: 'File' })!, /absolute path/);
  assert.match(unsafeEntry({ path: '../evil', type: 'File' })!, /"\.\."/);
  assert.match(unsafeEntry({ path: 'a/../../evil', type: 'File' })!, /"\.\."/);
  assert.match(unsafeEntry({ path: 'etc/x', type: 'SymbolicLink', linkpath: '../../etc/shadow' })!, /symbolic link/);
  assert.match(unsafeEntry({ path: 'etc/y', type: 'Link', linkpath: '/etc/shadow' })!, /hard link/);
});
