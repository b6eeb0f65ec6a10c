import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWithin } from './paths.js';

test('a path is within a directory when it is the directory or below it, not a sibling that shares its name as a prefix', () => {
  const cases: Array<[string, string, boolean]> = [
    ['/srv/b', '/srv/b', true],
    ['/srv/b/store', '/srv/b', true],
    ['/srv/backups', '/srv/b', false],
    ['/srv', '/srv/b', false],
    ['/anything', '/', true],
    ['/srv/b/x', '/srv/b/', true],
  ];
  for (const [p, dir, within] of cases) assert.equal(isWithin(p, dir), within, `${p} within ${dir}`);
});
