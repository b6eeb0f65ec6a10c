import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type * as UnixDgram from 'unix-dgram';
import { decodeReply, encodeRequest, Mconsole, MconsoleError } from './mconsole.js';

test('a request carries the magic, version 2, the length and the text', () => {
  const buf = encodeRequest('version');
  assert.equal(buf.readUInt32LE(0), 0xcafebabe);
  assert.equal(buf.readUInt32LE(4), 2);
  assert.equal(buf.readUInt32LE(8), 7);
  assert.equal(buf.subarray(12).toString(), 'version');
  assert.throws(() => encodeRequest('x'.repeat(600)), /longer than 511 bytes/);
});

test('a reply gives its error and more flags and its text', () => {
  const buf = Buffer.alloc(12 + 5);
  buf.writeUInt32LE(1, 0);
  buf.writeUInt32LE(0, 4);
  buf.writeUInt32LE(5, 8);
  buf.write('nope\0', 12);
  assert.deepEqual(decodeReply(buf), { err: true, more: false, text: 'nope' });
  assert.throws(() => decodeReply(Buffer.alloc(4)), /short mconsole reply/);
});

test('a malformed reply is an error to its command, never an exception in the listener', async () => {
  // what decodeReply makes of anything: a short datagram throws, a lying length is cut to what came
  assert.throws(() => decodeReply(Buffer.alloc(11)), MconsoleError);
  const liar = Buffer.alloc(14);
  liar.writeUInt32LE(0xffffffff, 8);
  liar.write('ok', 12);
  assert.deepEqual(decodeReply(liar), { err: false, more: false, text: 'ok' });
});

test('a UML that answers garbage, endlessly or to a link fails the command only', async () => {
  const unix = createRequire(import.meta.url)('unix-dgram') as typeof UnixDgram;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-mc-'));
  const serverPath = path.join(dir, 'mconsole');
  let reply: () => Buffer[] = () => [];
  // a few datagrams at a time: a unix socket queues only ten
  const sendAll = (to: string, parts: Buffer[]) => {
    for (const b of parts.splice(0, 8)) server.send(b, 0, b.length, to, () => {});
    if (parts.length) setTimeout(() => sendAll(to, parts), 5);
  };
  const server = unix.createSocket('unix_dgram', (_msg: Buffer, rinfo?: { path?: string }) => sendAll(rinfo!.path!, reply()));
  server.bind(serverPath);
  const part = (text: string, more: boolean) => {
    const b = Buffer.alloc(12 + text.length);
    b.writeUInt32LE(0, 0);
    b.writeUInt32LE(more ? 1 : 0, 4);
    b.writeUInt32LE(text.length, 8);
    b.write(text, 12);
    return b;
  };
  try {
    const mc = new Mconsole(serverPath, dir, unix);
    reply = () => [part('OK 6.1', false)];
    assert.equal(await mc.version(), 'OK 6.1');
    reply = () => [Buffer.from('bad')];
    await assert.rejects(mc.version(), /short mconsole reply/);
    reply = () => Array.from({ length: 200 }, () => part('x'.repeat(500), true));
    await assert.rejects(mc.command('version', 3000), /reply longer than/);
    symlinkSync(serverPath, path.join(dir, 'link'));
    await assert.rejects(new Mconsole(path.join(dir, 'link'), dir, unix).version(), /is a symbolic link/);
    chmodSync(dir, 0o777);
    await assert.rejects(mc.version(), /must be a directory only root may write to/);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
