import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, ftruncateSync, linkSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { copyUntrusted, readUntrusted, readUntrustedJson, withUntrustedSocket } from './untrusted-file.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-untrusted-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const read = { what: 'the test file', maxBytes: 1024 };

test('a regular file under the cap is read whole; a missing one is undefined', async () => {
  writeFileSync(path.join(dir, 'ok'), 'hello');
  assert.equal((await readUntrusted(path.join(dir, 'ok'), read))?.toString(), 'hello');
  assert.equal(await readUntrusted(path.join(dir, 'missing'), read), undefined);
});

test('a link is not followed, a FIFO not waited on, a huge file not read', async () => {
  writeFileSync(path.join(dir, 'canary'), 'secret');
  symlinkSync(path.join(dir, 'canary'), path.join(dir, 'link'));
  await assert.rejects(readUntrusted(path.join(dir, 'link'), read), /the test file \(.*link\) is a symbolic link/);
  linkSync(path.join(dir, 'canary'), path.join(dir, 'hard'));
  await assert.rejects(readUntrusted(path.join(dir, 'hard'), read), /has 2 names \(a hard link\), which Lodge does not read/);
  execFileSync('mkfifo', [path.join(dir, 'fifo')]);
  await assert.rejects(readUntrusted(path.join(dir, 'fifo'), read), /is not a regular file/);
  const fd = openSync(path.join(dir, 'huge'), 'w');
  ftruncateSync(fd, 10 * 1024 ** 3);
  closeSync(fd);
  const started = Date.now();
  await assert.rejects(readUntrusted(path.join(dir, 'huge'), read), /is larger than the 1024 bytes Lodge reads of it/);
  assert.ok(Date.now() - started < 1000);
});

test('a file that is not JSON is refused without echoing it', async () => {
  writeFileSync(path.join(dir, 'bad.json'), 'TOPSECRET{');
  await assert.rejects(readUntrustedJson(path.join(dir, 'bad.json'), read), (e: Error) => /is not valid JSON/.test(e.message) && !e.message.includes('TOPSECRET'));
});

test('a socket is reached through its handle, a link to one is refused', async () => {
  const sock = path.join(dir, 's.sock');
  const server = net.createServer((c) => c.end('hi')).listen(sock);
  await new Promise((r) => server.once('listening', r));
  try {
    const got = await withUntrustedSocket(sock, 'the test socket', (name) => new Promise<string>((resolve, reject) => {
      let data = '';
      net.connect(name).on('data', (d) => (data += d)).on('end', () => resolve(data)).on('error', reject);
    }));
    assert.equal(got, 'hi');
    symlinkSync(sock, path.join(dir, 'l.sock'));
    await assert.rejects(withUntrustedSocket(path.join(dir, 'l.sock'), 'the test socket', async () => 'reached'), /is a symbolic link/);
    await assert.rejects(withUntrustedSocket(path.join(dir, 'ok'), 'the test socket', async () => 'reached'), /is not a socket/);
  } finally {
    server.close();
  }
});

test('a copy takes every byte of a regular file into a new file of its own; what is refused leaves none', async () => {
  const bytes = Buffer.alloc(3 * 1024 * 1024 + 7, 0);
  for (let i = 0; i < bytes.length; i++) bytes[i] = i % 256;
  writeFileSync(path.join(dir, 'binary'), bytes);
  const dest = path.join(dir, 'copied');
  assert.equal(await copyUntrusted(path.join(dir, 'binary'), dest, { what: 'the test file', maxBytes: bytes.length }), bytes.length);
  assert.ok(readFileSync(dest).equals(bytes));
  assert.equal(statSync(dest).mode & 0o777, 0o600);
  await assert.rejects(copyUntrusted(path.join(dir, 'binary'), dest, read), /is larger than the 1024 bytes/);
  await assert.rejects(copyUntrusted(path.join(dir, 'ok'), dest, read), /EEXIST/, 'never over a file that is there');
  assert.ok(readFileSync(dest).equals(bytes), 'and that file is left as it was');
  assert.equal(await copyUntrusted(path.join(dir, 'missing'), path.join(dir, 'none'), read), undefined);
  symlinkSync(path.join(dir, 'ok'), path.join(dir, 'link2'));
  execFileSync('mkfifo', [path.join(dir, 'fifo2')]);
  for (const [source, why] of [['link2', /is a symbolic link/], ['fifo2', /is not a regular file/]] as const) {
    await assert.rejects(copyUntrusted(path.join(dir, source), path.join(dir, 'none'), read), why);
  }
  assert.equal(existsSync(path.join(dir, 'none')), false);
});
