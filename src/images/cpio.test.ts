import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpioArchive } from './cpio.js';

test('entries are newc records, 4-byte aligned, ending with the trailer', () => {
  const archive = cpioArchive([
    { path: '/bin', type: 'dir' },
    { path: '/bin/hello', type: 'file', data: Buffer.from('hi\n'), mode: 0o755 },
    { path: '/bin/sh', type: 'symlink', target: 'hello' },
  ]);
  const text = archive.toString('latin1');
  assert.equal(text.slice(0, 6), '070701');
  assert.equal(archive.length % 4, 0);
  // the file record: mode 100755, size 3, name "bin/hello"
  const at = text.indexOf('bin/hello\0');
  const header = text.slice(at - 110, at);
  assert.equal(header.slice(14, 22), (0o100755).toString(16).padStart(8, '0'));
  assert.equal(parseInt(header.slice(54, 62), 16), 3);
  assert.ok(text.includes('hello\0') && text.includes('TRAILER!!!\0'));
  assert.equal(text.indexOf('hi\n') % 4, 0, 'file data starts aligned');
});
