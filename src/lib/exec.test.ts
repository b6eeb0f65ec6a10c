import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { text } from 'node:stream/consumers';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExecError, run, runStreaming, spawnerPid, stopSpawner, useSpawner } from './exec.js';

const binary = fileURLToPath(new URL('../../shim/lodge-spawner', import.meta.url));

/** Pids of the live processes in process group `pgid`. */
function groupMembers(pgid: number): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return fields[0] !== 'Z' && Number(fields[2]) === pgid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

// cwd sends a program down the fork path even when a spawner runs
const forked = { cwd: '/' };

test('run refuses an argument holding a NUL, naming it, on both paths', async () => {
  assert.throws(() => run(['echo', 'a', 'b\0c']), /argument 2 of echo holds a NUL byte/);
  assert.throws(() => run(['echo', 'b\0c'], forked), /argument 1 of echo holds a NUL byte/);
});

test('the fork path kills the whole tree at the timeout and says so', async () => {
  const started = Date.now();
  const e = await run(['sh', '-c', 'echo $$; sleep 100 & sleep 100'], { ...forked, timeoutMs: 300 }).then(
    () => assert.fail('it should time out'),
    (x: ExecError) => x,
  );
  assert.ok(Date.now() - started < 3000, `answered after ${Date.now() - started} ms`);
  assert.equal(e.exceeded, 'timeout');
  assert.match(e.message, /timed out after 0.3 s/);
  await new Promise((done) => setTimeout(done, 100));
  assert.deepEqual(groupMembers(Number(e.result.stdout.trim())), [], 'no sleep is left of the group');
});

test('the fork path stops waiting for output a descendant holds, after the program exits', async () => {
  const started = Date.now();
  const r = await run(['sh', '-c', 'sleep 100 & echo $!'], forked);
  process.kill(Number(r.stdout.trim()), 'SIGKILL');
  assert.ok(Date.now() - started < 5000, `answered after ${Date.now() - started} ms`);
});

test('output past the cap is an error naming the stream and the cap, on both paths', async (t) => {
  useSpawner(binary);
  t.after(stopSpawner);
  for (const options of [{}, forked]) {
    await assert.rejects(run(['cat', '/dev/zero'], { ...options, outputCapBytes: 1 << 20, allowFailure: true }), (e: ExecError) => {
      assert.match(e.message, /^cat \/dev\/zero: its stdout exceeds 1 MiB: it was killed$/);
      assert.equal(e.exceeded, 'output');
      return true;
    });
  }
});

test('a spawner that dies is started again', async (t) => {
  useSpawner(binary);
  t.after(stopSpawner);
  const first = spawnerPid();
  assert.ok(first);
  process.kill(first, 'SIGKILL');
  await new Promise((done) => setTimeout(done, 1100));
  assert.equal((await run(['echo', 'hi'])).stdout, 'hi\n');
  const second = spawnerPid();
  assert.ok(second && second !== first, `a new spawner runs (${first} then ${second})`);
  assert.equal((await run(['echo', 'again'])).stdout, 'again\n');
});

test('runStreaming: the whole output once the program exits 0; its failure, with stderr, as the stream\'s error', async () => {
  assert.equal(await text(runStreaming(['sh', '-c', 'seq 1 20000'])), `${Array.from({ length: 20000 }, (_, i) => i + 1).join('\n')}\n`);
  await assert.rejects(text(runStreaming(['sh', '-c', 'echo partial; echo broken >&2; exit 3'])), (e: unknown) => e instanceof ExecError && /exit code 3: broken/.test(e.message));
  await assert.rejects(text(runStreaming(['sleep', '5'], { timeoutMs: 200 })), (e: unknown) => e instanceof ExecError && e.exceeded === 'timeout');
});

test('runStreaming: a reader that goes away kills the program with its group', async () => {
  // a duration no other program here sleeps, to find the one this test started
  const stream = runStreaming(['sh', '-c', 'sleep 29.137 & yes']);
  await new Promise((resolve) => stream.once('data', resolve));
  const sleeping = () =>
    readdirSync('/proc').filter((e) => {
      try {
        return /^\d+$/.test(e) && readFileSync(`/proc/${e}/cmdline`, 'utf8') === 'sleep\u000029.137\u0000';
      } catch {
        return false;
      }
    });
  assert.equal(sleeping().length, 1);
  stream.destroy();
  for (let i = 0; i < 50 && sleeping().length > 0; i++) await sleep(20);
  assert.deepEqual(sleeping(), []);
});
