import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LodgeError } from '../api/errors.js';
import { downloadPaths, guestPathParts, maxPaths } from './backup-files.js';

const badRequest = (what: RegExp) => (e: unknown) => e instanceof LodgeError && e.code === 'BAD_REQUEST' && what.test(e.message);

test('a guest path is absolute, without . or .. components; repeated and trailing slashes are no components', () => {
  assert.deepEqual(guestPathParts('/'), []);
  assert.deepEqual(guestPathParts('/etc/hostname'), ['etc', 'hostname']);
  assert.deepEqual(guestPathParts('//etc//nginx/'), ['etc', 'nginx']);
  assert.deepEqual(guestPathParts('/a b/...x/é'), ['a b', '...x', 'é']);
  assert.throws(() => guestPathParts('etc/hostname'), badRequest(/path "etc\/hostname" is not absolute/));
  assert.throws(() => guestPathParts(''), badRequest(/is not absolute/));
  assert.throws(() => guestPathParts('/etc/../../root'), badRequest(/path "\/etc\/..\/..\/root" has a ".." component/));
  assert.throws(() => guestPathParts('/etc/./passwd'), badRequest(/has a "\." component/));
  assert.throws(() => guestPathParts('/etc/\0x'), badRequest(/holds a NUL byte/));
});

test('the paths of a download: each once, none inside another, at least one, not too many', () => {
  assert.deepEqual(downloadPaths(['/etc/hostname', '/etc', '/root/notes', '/etc/']), [['etc'], ['root', 'notes']]);
  assert.deepEqual(downloadPaths(['/root/notes', '/etc/hostname']), [['root', 'notes'], ['etc', 'hostname']]);
  assert.deepEqual(downloadPaths(['/etc/x', '/']), [[]]);
  assert.deepEqual(downloadPaths(['/etcetera', '/etc']), [['etcetera'], ['etc']]);
  assert.throws(() => downloadPaths([]), badRequest(/name at least one file or directory/));
  assert.throws(() => downloadPaths(Array.from({ length: maxPaths + 1 }, (_, i) => `/f${i}`)), badRequest(/at most 256 paths/));
  assert.throws(() => downloadPaths(['/ok', 'relative']), badRequest(/"relative" is not absolute/));
});
