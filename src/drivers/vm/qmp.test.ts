import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { maxLineBytes, parseMessage, Qmp, QmpError } from './qmp.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-qmp-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const greeting = '{"QMP": {"version": {}, "capabilities": []}}\n';

/** A fake QEMU: greets, accepts qmp_capabilities, then answers each later command with `answer(id)`. */
async function fakeQemu(name: string, answer: (id: number, socket: net.Socket) => void): Promise<{ path: string; close: () => void }> {
  const file = path.join(dir, name);
  const server = net.createServer((c) => {
    c.write(greeting);
    let buffer = '';
    c.on('data', (d) => {
      buffer += d.toString();
      for (let nl; (nl = buffer.indexOf('\n')) >= 0; buffer = buffer.slice(nl + 1)) {
        const { execute, id } = JSON.parse(buffer.slice(0, nl)) as { execute: string; id: number };
        if (execute === 'qmp_capabilities') c.write(`{"return": {}, "id": ${id}}\n`);
        else answer(id, c);
      }
    });
    c.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(file, r));
  return { path: file, close: () => server.close() };
}

test('a line that is not a JSON object is refused without being echoed', () => {
  assert.throws(() => parseMessage('SECRET not json'), (e: Error) => e instanceof QmpError && /not JSON/.test(e.message) && !e.message.includes('SECRET'));
  for (const line of ['null', '42', '"x"', '[1]']) assert.throws(() => parseMessage(line), /not a JSON object/);
  assert.deepEqual(parseMessage('{"return": {}, "id": 1}'), { return: {}, id: 1 });
});

test('a command gets its answer; events and strange fields in between do no harm', async () => {
  const qemu = await fakeQemu('ok.sock', (id, c) => c.write(`{"event": "X", "data": 1}\n{"id": "nope"}\n{"error": 5, "id": 999}\n{"return": {"status": "running", "running": true}, "id": ${id}}\n`));
  const qmp = await Qmp.connect(qemu.path, 2000);
  try {
    assert.deepEqual(await qmp.status(), { status: 'running', running: true });
  } finally {
    qmp.close();
    qemu.close();
  }
});

test('garbage from QMP ends that connection with an error, and the process lives on', async () => {
  const qemu = await fakeQemu('garbage.sock', (_id, c) => c.write('}{ this is not json\n'));
  const qmp = await Qmp.connect(qemu.path, 2000);
  try {
    await assert.rejects(qmp.status(), (e: Error) => e instanceof QmpError && /not JSON/.test(e.message));
    await assert.rejects(qmp.status(), /QMP connection lost/);
  } finally {
    qmp.close();
    qemu.close();
  }
});

test('garbage instead of a greeting fails the connect', async () => {
  const file = path.join(dir, 'nogreet.sock');
  const server = net.createServer((c) => c.end('\0\0\0garbage\n')).listen(file);
  await new Promise((r) => server.once('listening', r));
  try {
    await assert.rejects(Qmp.connect(file, 2000), QmpError);
  } finally {
    server.close();
  }
});

test('a line longer than the cap ends the connection before it is all buffered', async () => {
  const qemu = await fakeQemu('long.sock', (_id, c) => {
    const chunk = 'x'.repeat(64 * 1024);
    for (let sent = 0; sent <= maxLineBytes * 4 && !c.destroyed; sent += chunk.length) c.write(chunk);
  });
  const qmp = await Qmp.connect(qemu.path, 5000);
  try {
    await assert.rejects(qmp.status(), new RegExp(`longer than ${maxLineBytes} bytes`));
  } finally {
    qmp.close();
    qemu.close();
  }
});

test('a command that gets no answer fails at its timeout', async () => {
  const qemu = await fakeQemu('mute.sock', () => {});
  const qmp = await Qmp.connect(qemu.path, 300);
  try {
    const started = Date.now();
    await assert.rejects(qmp.status(), /query-status: no answer in 300 ms/);
    assert.ok(Date.now() - started < 2000);
  } finally {
    qmp.close();
    qemu.close();
  }
});

test('a QEMU that accepts but never greets fails the connect at its timeout', async () => {
  const file = path.join(dir, 'silent.sock');
  const server = net.createServer(() => {}).listen(file);
  await new Promise((r) => server.once('listening', r));
  try {
    await assert.rejects(Qmp.connect(file, 300), /no QMP greeting/);
  } finally {
    server.close();
  }
});
