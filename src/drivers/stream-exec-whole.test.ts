import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { ExecProcess } from './driver.js';
import { runWhole } from './stream-exec-whole.js';

/** A command that echoes its input to stdout, writes `extra` after it, and exits 3; or ends with -1 when killed. */
function echoing(extra: Buffer) {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let killed = false;
  let end: (code: number) => void = () => {};
  const exit = new Promise<number>((resolve) => (end = resolve));
  const input: Buffer[] = [];
  stdin.on('data', (b: Buffer) => input.push(b));
  stdin.on('end', () => {
    stdout.write(Buffer.concat(input));
    if (!killed) stdout.write(extra);
    stderr.end('done\n');
    stdout.end();
    end(killed ? -1 : 3);
  });
  const proc: ExecProcess = { stdin, stdout, stderr, exit, signal() {}, kill: () => void (killed = true) };
  return { proc, wasKilled: () => killed };
}

test('the whole input goes in, and the whole output and the exit code come back', async () => {
  const { proc } = echoing(Buffer.from(' and more'));
  assert.deepEqual(await runWhole(proc, 'hello', 'exec in p1', 'cat'), { exitCode: 3, stdout: 'hello and more', stderr: 'done\n' });
});

test('output past the cap kills the command and fails the request, naming the stream', async () => {
  const { proc, wasKilled } = echoing(Buffer.alloc(64));
  await assert.rejects(runWhole(proc, 'x'.repeat(40), 'exec in p1', 'cat', 32), {
    code: 'UNSUPPORTED',
    message: 'exec in p1: the stdout of cat exceeds 0.000030517578125 MiB: the command was killed (exec returns at most that much of stdout and of stderr; write more to a file in the guest)',
  });
  assert.ok(wasKilled());
});
