import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeRequest, FrameReader, Spawner } from './spawner.js';

// the real helper, built by npm run build beside dist/src
const binary = fileURLToPath(new URL('../../shim/lodge-spawner', import.meta.url));
const opts = (timeoutMs: number, outputCapBytes = 1 << 20) => ({ timeoutMs, outputCapBytes });

/** Pids of the live processes in process group `pgid`. */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) members.push(Number(entry));
    } catch {
      // it ended while we looked
    }
  }
  return members;
}

test('lodge-spawner runs programs concurrently, with their input, output, exit status and signals', async (t) => {
  assert.ok(existsSync(binary), `${binary} is missing: npm run build makes it`);
  const s = new Spawner(binary);
  t.after(() => s.close());
  const [echo, cat, fail, killed, missing] = await Promise.all([
    s.run(['sh', '-c', 'echo out; echo err >&2'], undefined, opts(5000)),
    s.run(['cat'], 'x'.repeat(300_000), opts(5000)),
    s.run(['sh', '-c', 'exit 3'], undefined, opts(5000)),
    s.run(['sleep', '10'], undefined, opts(200)),
    s.run(['/no/such/program'], undefined, opts(5000)),
  ]);
  assert.deepEqual(echo, { code: 0, stdout: 'out\n', stderr: 'err\n' });
  assert.equal(cat.stdout.length, 300_000, 'input larger than a pipe goes through whole');
  assert.equal(fail.code, 3);
  assert.deepEqual([killed.code, killed.signal, killed.timedOut], [-1, 'SIGKILL', true], 'the timeout kills it');
  assert.equal(missing.spawnError, 'ENOENT');
});

test('an argument holding a NUL is refused before anything is sent, naming it', async (t) => {
  const s = new Spawner(binary);
  t.after(() => s.close());
  await assert.rejects(s.run(['sh', '-c', 'touch /tmp/never', 'x\0y'], undefined, opts(5000)), /argument 3 of sh holds a NUL byte/);
  const after = await s.run(['echo', 'still', 'here'], undefined, opts(5000));
  assert.equal(after.stdout, 'still here\n', 'the spawner serves the next request');
});

test('arguments whose bytes look like frame headers or separators arrive intact', async (t) => {
  const s = new Spawner(binary);
  t.after(() => s.close());
  const header = encodeRequest(7, ['touch', '/tmp/x'], Buffer.alloc(0), opts(1)).toString('latin1').replaceAll('\0', '\x01');
  const args = ['\x01\x02\x03\x04', header, 'a'.repeat(70_000), '\u00e9\u{1F600}', '', '-e', 'x=y\ny', ' '];
  const r = await s.run(['sh', '-c', 'for a in "$@"; do printf "%s\\036" "$a"; done', 'sh', ...args], undefined, opts(5000));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\x1e').slice(0, -1), args);
});

test('lodge-spawner answers a malformed frame with EINVAL and keeps reading the stream', async (t) => {
  const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => child.stdin.end());
  const reader = new FrameReader();
  const answers: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => answers.push(...reader.push(b)));
  const wrongArgc = encodeRequest(1, ['echo', 'a'], Buffer.alloc(0), opts(5000));
  wrongArgc.writeUInt32LE(3, 16); // three strings announced, two sent
  const nulInside = encodeRequest(2, ['echo', 'ab'], Buffer.alloc(0), opts(5000));
  nulInside[nulInside.length - 1] = 0; // a NUL inside the framed "ab"
  const overlong = encodeRequest(3, ['echo', 'a'], Buffer.alloc(0), opts(5000));
  overlong.writeUInt32LE(1000, 24 + 4 + 4); // the second string claims more than the body holds
  const tooManyArgs = encodeRequest(4, ['echo'], Buffer.alloc(0), opts(5000));
  tooManyArgs.writeUInt32LE(0xffffffff, 16);
  child.stdin.write(Buffer.concat([wrongArgc, nulInside, overlong, tooManyArgs, encodeRequest(5, ['echo', 'ok'], Buffer.alloc(0), opts(5000))]));
  const deadline = Date.now() + 5000;
  while (answers.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const byId = new Map(answers.map((a) => [a.readUInt32LE(0), a]));
  for (const id of [1, 2, 3, 4]) assert.equal(byId.get(id)?.readUInt32LE(12), 22, `request ${id} is answered with EINVAL`);
  assert.equal(byId.get(5)?.subarray(28).toString(), 'ok\n', 'a good request after them runs');
});

test('a timeout kills the whole process tree and answers at once', async (t) => {
  const s = new Spawner(binary);
  t.after(() => s.close());
  const started = Date.now();
  const r = await s.run(['sh', '-c', 'echo $$; sleep 100 & sleep 100'], undefined, opts(300));
  assert.ok(Date.now() - started < 3000, `answered after ${Date.now() - started} ms`);
  assert.equal(r.timedOut, true);
  const pgid = Number(r.stdout.trim());
  assert.ok(pgid > 1);
  await new Promise((done) => setTimeout(done, 100));
  assert.deepEqual(groupMembers(pgid), [], 'no sleep is left of the group');
});

test('a program that exits while a descendant holds its output is answered after the drain deadline', async (t) => {
  const s = new Spawner(binary);
  t.after(() => s.close());
  const started = Date.now();
  const r = await s.run(['sh', '-c', 'sleep 100 & echo $!'], undefined, opts(60_000));
  try {
    assert.ok(Date.now() - started < 5000, `answered after ${Date.now() - started} ms`);
    assert.equal(r.code, 0);
  } finally {
    process.kill(Number(r.stdout.trim()), 'SIGKILL');
  }
});

test('output past the cap is cut, the program killed, and the answer says which stream', async (t) => {
  const s = new Spawner(binary);
  t.after(() => s.close());
  const started = Date.now();
  const [out, err] = await Promise.all([
    s.run(['cat', '/dev/zero'], undefined, opts(60_000, 1 << 20)),
    s.run(['sh', '-c', 'cat /dev/zero >&2'], undefined, opts(60_000, 1 << 20)),
  ]);
  assert.ok(Date.now() - started < 5000, `answered after ${Date.now() - started} ms`);
  assert.deepEqual([out.overflowed, out.stdout.length, out.code], ['stdout', 1 << 20, -1]);
  assert.deepEqual([err.overflowed, err.stderr.length], ['stderr', 1 << 20]);
});

test('frames are cut right however the bytes arrive', () => {
  const frame = (text: string) => {
    const b = Buffer.alloc(4 + text.length);
    b.writeUInt32LE(text.length, 0);
    b.write(text, 4);
    return b;
  };
  const stream = Buffer.concat([frame('one'), frame(''), frame('three'.repeat(1000))]);
  for (const size of [1, 2, 3, 5, 4096, stream.length]) {
    const reader = new FrameReader();
    const got: string[] = [];
    for (let at = 0; at < stream.length; at += size) got.push(...reader.push(stream.subarray(at, at + size)).map((f) => f.toString()));
    assert.deepEqual(got, ['one', '', 'three'.repeat(1000)], `in pieces of ${size}`);
  }
});

test('a large answer arriving in pipe-sized pieces is put together in linear time', () => {
  // the old reader copied everything received so far on every piece: 32 MiB took seconds
  const size = 32 * 1024 * 1024;
  const stream = Buffer.alloc(4 + size);
  stream.writeUInt32LE(size, 0);
  const reader = new FrameReader();
  const started = Date.now();
  const frames: Buffer[] = [];
  for (let at = 0; at < stream.length; at += 65536) frames.push(...reader.push(stream.subarray(at, at + 65536)));
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.length, size);
  assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
});
