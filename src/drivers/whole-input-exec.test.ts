import { test } from 'node:test';
import assert from 'node:assert/strict';
import { text } from 'node:stream/consumers';
import { LodgeError } from '../api/errors.js';
import { wholeInputExecProcess } from './whole-input-exec.js';

test('a whole exec behind streams: input gathered to its end, output and exit code after', async () => {
  const seen: string[] = [];
  const p = wholeInputExecProcess(async (stdin, stdout, stderr) => {
    seen.push(stdin);
    stdout.write(stdin.toUpperCase());
    stderr.write('warn');
    return 3;
  }, 'exec in p1');
  p.stdin.write('hel');
  p.stdin.end('lo');
  const [out, err, code] = await Promise.all([text(p.stdout), text(p.stderr), p.exit]);
  assert.deepEqual([out, err, code, seen], ['HELLO', 'warn', 3, ['hello']]);
  assert.throws(() => p.signal('INT'), (e: unknown) => e instanceof LodgeError && e.code === 'UNSUPPORTED' && /exec in p1: this kind's exec cannot signal/.test(e.message));
});

test('input past the cap fails the exec with its reason and runs nothing; a failed run fails it too', async () => {
  let ran = false;
  const p = wholeInputExecProcess(async () => {
    ran = true;
    return 0;
  }, 'exec in p1', 4);
  p.stdin.write('12345');
  await assert.rejects(p.exit, /exec in p1: more than .* MiB on stdin/);
  assert.equal(ran, false);

  const q = wholeInputExecProcess(() => Promise.reject(new LodgeError('UNAVAILABLE', 'no agent')), 'exec in p1');
  q.stdin.end();
  await assert.rejects(q.exit, /no agent/);
});
