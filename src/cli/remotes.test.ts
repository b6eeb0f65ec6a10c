/**
 * The CLI's remotes file: kept 0600 in a 0700 directory (it holds tokens), replaced whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readRemotes, remoteNamed, remotesFile, writeRemotes } from './remotes.js';

test('remotes live under XDG_CONFIG_HOME, else ~/.config', () => {
  assert.equal(remotesFile({ XDG_CONFIG_HOME: '/x/cfg', HOME: '/home/a' }), '/x/cfg/lodge/remotes.json');
  assert.equal(remotesFile({ HOME: '/home/a' }), '/home/a/.config/lodge/remotes.json');
});

test('remotes are written 0600 in a 0700 directory and read back; an unknown one is named in the error', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lodge-remotes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'cfg', 'lodge', 'remotes.json');
  assert.deepEqual(readRemotes(file), {});
  const prod = { url: 'https://10.0.0.5:8443', token: 'lodge_abc', fingerprint: 'AB:CD' };
  writeRemotes({ prod }, file);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
  assert.deepEqual(remoteNamed('prod', file), prod);
  assert.throws(() => remoteNamed('dev', file), /no remote named dev in .*remotes\.json/);
  writeFileSync(file, '{"remotes":');
  assert.throws(() => readRemotes(file), /remotes\.json is not valid JSON/);
});
