import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../lib/exec.js';
import { asReader, debugfsPathProblem, parseListing } from './ext-reader.js';

test('debugfs ls -p: entries with type, mode and owner; . and .., and lines a hostile name broke, left out', () => {
  const text = [
    '/14/040755/0/0/.//',
    '/2/040755/0/0/..//',
    '/15/120777/0/0/link/15/',
    '/16/100640/5/7/notes/6/',
    '/17/100644/0/0/a/b with/slash/3/',
    '/18/020644/0/0/null/0/',
    '/19/100644/0/0/first line',
    'second line/1/',
    '',
  ].join('\n');
  assert.deepEqual(parseListing(text), [
    { name: 'link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 15 },
    { name: 'notes', type: 'file', mode: 0o640, uid: 5, gid: 7, size: 6 },
    { name: 'a/b with/slash', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 3 },
    { name: 'null', type: 'chardev', mode: 0o644, uid: 0, gid: 0, size: 0 },
  ]);
});

test('debugfs is given no path with a control character (its command is one line)', () => {
  assert.equal(debugfsPathProblem('/etc/a "quoted" name'), undefined);
  assert.match(debugfsPathProblem('/etc/two\nlines')!, /control character/);
});

test("a reader's writes to the host's shared directories (/tmp, /var/tmp, /dev/shm) land in tmpfs of its own, gone with it; a directory its arguments name a path in is the host's", async () => {
  const helper = fileURLToPath(new URL('../../shim/lodge-userns', import.meta.url));
  const mark = `lodge-userns-${process.pid}`;
  // the script names no shared directory itself: it goes there by cd
  await run(asReader(helper, ['sh', '-c', `for d in tmp var/tmp dev/shm; do cd /$d && echo x > ${mark}; done`]));
  for (const d of ['/tmp', '/var/tmp', '/dev/shm']) assert.equal(existsSync(path.join(d, mark)), false, `${d} is the reader's own`);
  const kept = await mkdtemp(path.join(tmpdir(), 'lodge-userns-'));
  try {
    await chmod(kept, 0o777);
    await run(asReader(helper, ['sh', '-c', `cd "$1" && echo x > ${mark}`, 'sh', kept]));
    assert.equal(existsSync(path.join(kept, mark)), true, 'a directory named in its arguments is the host\'s');
  } finally {
    await rm(kept, { recursive: true, force: true });
  }
});
