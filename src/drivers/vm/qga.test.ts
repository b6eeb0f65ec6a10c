import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execOutputCapBytes } from '../../api/guests.js';
import { execArguments, execResult, guestExec, LineReader, parseAnswer, Qga, QgaError } from './qga.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-qga-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

type Request = { execute: string; arguments?: Record<string, unknown> };

/** A fake agent: answers guest-sync-delimited with `stale` bytes, then 0xFF and the id; everything else with `answer`. */
async function fakeAgent(name: string, answer: (r: Request, c: net.Socket) => void, stale = ''): Promise<{ path: string; close: () => void }> {
  const file = path.join(dir, name);
  const server = net.createServer((c) => {
    let buffer = '';
    c.on('data', (d) => {
      // the client's 0xFF resets the parser, as in qemu-ga
      buffer += d.toString('latin1');
      buffer = buffer.slice(buffer.lastIndexOf('\xff') + 1);
      for (let nl; (nl = buffer.indexOf('\n')) >= 0; buffer = buffer.slice(nl + 1)) {
        const r = JSON.parse(buffer.slice(0, nl)) as Request;
        if (r.execute === 'guest-sync-delimited') {
          // stale answers first, on their own, so that the client reads them before its own
          c.write(Buffer.from(stale, 'latin1'));
          setTimeout(() => c.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(`{"return": ${r.arguments!.id}}\n`)])), 20);
        }
        else answer(r, c);
      }
    });
    c.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(file, r));
  return { path: file, close: () => server.close() };
}

test('lines are read only after the sync delimiter, joined across chunks, and capped', () => {
  const r = new LineReader(64);
  assert.deepEqual(r.push(Buffer.from('{"return": 1}\n{"ret')), [], 'before the delimiter, stale answers are dropped');
  assert.deepEqual(r.push(Buffer.from([0x22, 0xff, ...Buffer.from('{"return": 7}\n{"ret')])), ['{"return": 7}']);
  assert.deepEqual(r.push(Buffer.from('urn": 8}\n\n')), ['{"return": 8}']);
  assert.deepEqual(r.push(Buffer.from([...Buffer.from('half a li'), 0xff, ...Buffer.from('{"return": 9}\n')])), ['{"return": 9}'], 'a delimiter drops a half line');
  assert.throws(() => r.push(Buffer.alloc(65, 'x')), /longer than 64 bytes/);
});

test('an answer that is not a JSON object is refused without being echoed', () => {
  assert.throws(() => parseAnswer('SECRET'), (e: Error) => e instanceof QgaError && /not JSON/.test(e.message) && !e.message.includes('SECRET'));
  for (const line of ['null', '1', '[]']) assert.throws(() => parseAnswer(line), /not a JSON object/);
});

test('guest-exec arguments: argv, env over a default PATH and HOME, stdin in base64, cwd through sh', () => {
  assert.deepEqual(execArguments({ command: ['ls', '-l'] }), {
    path: 'ls',
    arg: ['-l'],
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root'],
    'capture-output': true,
  });
  const a = execArguments({ command: ['cat'], stdin: 'hé\n', env: { HOME: '/h', A: 'b c' }, cwd: '/tmp/x y' });
  assert.equal(a.path, '/bin/sh');
  assert.deepEqual(a.arg, ['-c', 'cd -- "$1" || exit 127; shift; exec "$@"', 'lodge-exec', '/tmp/x y', 'cat']);
  assert.deepEqual((a.env as string[]).slice(1), ['HOME=/h', 'A=b c']);
  assert.equal(Buffer.from(a['input-data'] as string, 'base64').toString(), 'hé\n');
});

test('an exited status: exit code, signal as 128+N, decoded output; truncation and nonsense refused', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  assert.deepEqual(execResult('g', { exited: true, exitcode: 3, 'out-data': b64('out'), 'err-data': b64('err') }), { exitCode: 3, stdout: 'out', stderr: 'err' });
  assert.deepEqual(execResult('g', { exited: true, signal: 9 }), { exitCode: 137, stdout: '', stderr: '' });
  assert.throws(() => execResult('g', { exited: true, exitcode: 0, 'out-truncated': true }), /exec in g: the stdout of the command exceeds 16 MiB/);
  assert.throws(() => execResult('g', { exited: true, exitcode: 0, 'err-truncated': true }), /the stderr of the command exceeds/);
  assert.throws(() => execResult('g', { exited: true, exitcode: 0, 'out-data': Buffer.alloc(execOutputCapBytes + 1).toString('base64') }), /exceeds 16 MiB/);
  assert.throws(() => execResult('g', { exited: true, exitcode: 0, 'out-data': 'not base64!' }), /not base64/);
  for (const bad of [{ exited: true }, { exited: true, exitcode: -1 }, { exited: true, exitcode: '0' }, { exited: true, signal: 1e9 }]) {
    assert.throws(() => execResult('g', bad), /neither an exit code nor a signal/);
  }
});

test('connect syncs past stale answers; exec polls until the command has exited', async () => {
  let polls = 0;
  const agent = await fakeAgent(
    'ok.sock',
    (r, c) => {
      if (r.execute === 'guest-exec') c.write('{"return": {"pid": 42}}\n');
      else if (r.execute === 'guest-exec-status') c.write(++polls < 3 ? '{"return": {"exited": false}}\n' : `{"return": {"exited": true, "exitcode": 0, "out-data": "${Buffer.from('hi').toString('base64')}"}}\n`);
    },
    '{"return": {"exited": true}}\n{"return": 1}\n\xff{"return": 5}\n{"error": {"class": "GenericError", "desc": "JSON parse error"}}\n',
  );
  const qga = await Qga.connect(agent.path, 2000);
  try {
    assert.deepEqual(await guestExec(qga, 'g', { command: ['echo', 'hi'] }, { answerMs: 2000, runMs: 10_000 }), { exitCode: 0, stdout: 'hi', stderr: '' });
    assert.equal(polls, 3);
  } finally {
    qga.close();
    agent.close();
  }
});

test("the agent's refusal to run a command is a shell's answer (127 not found, 126 with the reason); a silent agent fails the sync in time", async () => {
  const agent = await fakeAgent('refuses.sock', (r, c) => {
    const why = JSON.stringify(r).includes('nope') ? 'Failed to execute child process “nope” (No such file or directory)' : 'Failed to execute child process “/etc” (Permission denied)';
    c.write(`{"error": {"class": "GenericError", "desc": "Guest agent command failed, error was '${why}'"}}\n`);
  });
  const qga = await Qga.connect(agent.path, 2000);
  assert.deepEqual(await guestExec(qga, 'g', { command: ['nope'] }, { answerMs: 2000, runMs: 1000 }), { exitCode: 127, stdout: '', stderr: 'lodge: nope: command not found in g\n' });
  assert.deepEqual(await guestExec(qga, 'g', { command: ['/etc'] }, { answerMs: 2000, runMs: 1000 }), { exitCode: 126, stdout: '', stderr: 'lodge: cannot run /etc in g: Failed to execute child process “/etc” (Permission denied)\n' });
  qga.close();
  agent.close();
  const file = path.join(dir, 'silent.sock');
  const silent = net.createServer((c) => c.on('error', () => {}));
  await new Promise<void>((r) => silent.listen(file, r));
  const t0 = Date.now();
  try {
    await assert.rejects(Qga.connect(file, 300), /did not answer guest-sync-delimited in (29\d|300) ms/);
    assert.ok(Date.now() - t0 < 1000);
  } finally {
    silent.close(); // an open server would keep this file's process, and so the run, from ending
  }
});

test('garbage or a flood from the agent ends the connection with a QgaError, and nothing else', async () => {
  for (const [name, reply] of [
    ['garbage.sock', 'SECRET garbage\n'],
    ['array.sock', '[1,2]\n'],
    ['flood.sock', 'x'.repeat(200_000)],
  ] as const) {
    const agent = await fakeAgent(name, (_r, c) => {
      if (name === 'flood.sock') for (let i = 0; i < 300; i++) c.write(reply);
      else c.write(reply);
    });
    const qga = await Qga.connect(agent.path, 2000);
    await assert.rejects(qga.request('guest-info', undefined, 5000), (e: Error) => e instanceof QgaError && !e.message.includes('SECRET'));
    await assert.rejects(qga.request('guest-info', undefined, 5000), QgaError, 'later requests fail at once');
    qga.close();
    agent.close();
  }
});

test('a failed connection is read until the guest is quiet, then hung up: closed under a flood, QEMU would leave the port throttled for good', async () => {
  let flooding: NodeJS.Timeout | undefined;
  let closedAt = 0;
  const agent = await fakeAgent('drain.sock', (_r, c) => {
    c.on('close', () => (closedAt = Date.now()));
    flooding = setInterval(() => c.write('y'.repeat(4096)), 5);
  });
  try {
    const qga = await Qga.connect(agent.path, 2000);
    await assert.rejects(qga.request('guest-info', undefined, 300), /did not answer guest-info in 300 ms/);
    qga.close();
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(closedAt, 0, 'still read while the guest sends');
    clearInterval(flooding);
    const quietFrom = Date.now();
    while (!closedAt && Date.now() - quietFrom < 5000) await new Promise((r) => setTimeout(r, 50));
    assert.ok(closedAt > 0 && closedAt - quietFrom < 1500, `hung up ${closedAt - quietFrom} ms after the guest went quiet`);
  } finally {
    clearInterval(flooding); // a failure must not leave the flood keeping the run alive
    agent.close();
  }
});
