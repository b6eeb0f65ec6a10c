/**
 * Exec as an attacker would use it: NUL bytes in a request to one guest must not reach
 * another (they once made the command run in csteal); a command that writes without end
 * stops at exec's output cap while lodged keeps answering and its memory stays bounded;
 * an exec into a guest at its process limit says so.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import type { LodgeError } from '../../src/api/errors.js';
import { guestPid, hostCgroup, TestDaemon } from './harness.js';

const d = new TestDaemon();
let stealId = '';
before(async () => {
  await d.start();
  await d.buildBusybox();
  await d.launch('csteal');
  stealId = d.runtimeContainers()[0]!;
  await d.launch('c1');
});
after(() => d.cleanup());

const exec = (name: string, req: Parameters<typeof d.client.guests.exec>[1]) => d.client.guests.exec(name, req);
const stolen = async (file: string) => (await exec('csteal', { command: ['sh', '-c', `test -e ${file} && echo yes || echo no`] })).stdout.trim();

test('NUL bytes in exec command, env or cwd are refused naming the field, and nothing runs in another guest', async () => {
  assert.ok(stealId, 'csteal has a runtime id');
  // each would shift the NUL-joined argv of the old spawner so that runc ran `touch` in csteal
  const hostile = [
    { message: /^env\.K: .* is not valid \(text without NUL bytes\)/, req: { command: ['sh', '-c', 'true', 'a', 'b'], env: { K: `x\0${stealId}\0touch\0/stolen-env` } } },
    { message: /^env: .* is not valid \(a variable name/, req: { command: ['sh', '-c', 'true', 'a', 'b'], env: { [`K=x\0${stealId}\0touch\0/stolen-key`]: 'v' } } },
    { message: /^cwd: .* is not valid \(an absolute path without NUL bytes\)/, req: { command: ['sh', '-c', 'true', 'a', 'b'], cwd: `/\0${stealId}\0touch\0/stolen-cwd` } },
    { message: /^command\.1: .* is not valid \(text without NUL bytes\)/, req: { command: ['touch', `/x\0${stealId}`, '/stolen-command'] } },
  ];
  for (const { message, req } of hostile) {
    await assert.rejects(exec('c1', req), (e: LodgeError) => {
      assert.equal(e.code, 'BAD_REQUEST', e.message);
      assert.match(e.message, message);
      return true;
    });
  }
  for (const file of ['/stolen-env', '/stolen-key', '/stolen-cwd', '/stolen-command']) assert.equal(await stolen(file), 'no', `${file} was not made in csteal`);
  // values that merely look like runc's flags or another guest's id are passed through as text
  const odd = await exec('c1', { command: ['sh', '-c', 'printf "%s|%s|%s" "$K" "$PWD" "$1"', 'sh', `${stealId} --root /`], env: { K: `=${stealId}\n--cwd` }, cwd: '/tmp' });
  assert.equal(odd.stdout, `=${stealId}\n--cwd|/tmp|${stealId} --root /`);
});

test('the interactive exec refuses a NUL in its command before anything runs', async () => {
  const answer = await new Promise<string>((resolve) => {
    const ws = new WebSocket(d.client.guests.execUrl('c1', { command: ['touch', `/stolen-tty\0${stealId}`] }));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
    });
    ws.on('open', () => resolve('opened'));
    ws.on('error', () => {});
  });
  assert.match(answer, /^400 .*query parameter command/);
  assert.equal(await stolen('/stolen-tty'), 'no');
});

test('an image whose init holds a space or a NUL is refused: it would add parameters to a kernel command line', async () => {
  for (const init of ['/sbin/init ubd1=/etc/shadow', '/sbin/init\0x']) {
    await assert.rejects(d.client.images.import({ name: 'spaced', init }, Readable.from([Buffer.alloc(0)])), (e: LodgeError) => {
      assert.equal(e.code, 'BAD_REQUEST', e.message);
      assert.match(e.message, /init: .* is not valid \(the program the guest starts as PID 1: an absolute path without spaces or NUL bytes\)/);
      return true;
    });
  }
  assert.ok(!(await d.client.images.list()).some((i) => i.name === 'spaced'), 'no image was made');
});

/** kB of a process's resident memory, now and at its peak. */
const status = (pid: number, field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
const rss = (pid: number) => status(pid, 'VmRSS');
const peakRss = (pid: number) => status(pid, 'VmHWM');
const spawnerOf = (pid: number) =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).map(Number).find((c) => readFileSync(`/proc/${c}/comm`, 'utf8').trim() === 'lodge-spawner');

/** How many processes named `comm` run in the guest. */
const running = async (name: string, comm: string) =>
  // shell builtins only (a cat or grep of the count's own would be counted), zombies left out
  Number((await exec(name, { command: ['sh', '-c', `n=0; for p in /proc/[0-9]*; do read c <$p/comm && read s <$p/stat || continue; case "$s" in *") Z "*) continue;; esac; [ "$c" = ${comm} ] && n=$((n+1)); done; echo $n`] })).stdout.trim());

test('cat /dev/zero stops at the output cap with a clear error; lodged answers meanwhile and stays small', async () => {
  const lodged = d.pid!;
  const spawner = spawnerOf(lodged);
  assert.ok(spawner, 'lodged has its spawner');
  const started = Date.now();
  let ended = false;
  const zero = exec('c1', { command: ['cat', '/dev/zero'] });
  void zero.catch(() => {}).finally(() => (ended = true));
  const listTimes: number[] = [];
  // bounded, so that a spawner that collects without end does not take the machine with it
  while (!ended && Date.now() - started < 60_000 && rss(spawner) < 500 * 1024) {
    const t = Date.now();
    await d.client.guests.list();
    listTimes.push(Date.now() - t);
    await sleep(50);
  }
  assert.ok(ended, `the exec ended (after ${Date.now() - started} ms; lodge-spawner holds ${rss(spawner)} kB)`);
  await assert.rejects(zero, (e: LodgeError) => {
    assert.equal(e.code, 'UNSUPPORTED', e.message);
    assert.match(e.message, /exec in c1: the output of cat exceeds 16 MiB: the command was killed/);
    return true;
  });
  assert.ok(listTimes.length >= 1 && Math.max(...listTimes) < 2000, `lists answered meanwhile (${listTimes.join(', ')} ms)`);
  assert.ok(peakRss(spawner) < 100 * 1024, `lodge-spawner peaked at ${peakRss(spawner)} kB`);
  assert.ok(peakRss(lodged) < 600 * 1024, `lodged peaked at ${peakRss(lodged)} kB`);
  assert.equal(await running('c1', 'cat'), 0, 'no cat is left in the guest');
  // what the command started goes with it, though the command itself died before Lodge looked
  await assert.rejects(exec('c1', { command: ['sh', '-c', 'sleep 300 & exec cat /dev/zero'] }), /the output of sh exceeds 16 MiB/);
  assert.equal(await running('c1', 'sleep'), 0, 'no sleep is left in the guest');
  assert.equal((await exec('c1', { command: ['echo', 'ok'] })).stdout, 'ok\n', 'exec works after it');
});

test('an exec into a guest at its process limit fails naming the limit', async () => {
  await d.launch('capped', { limits: { processes: 20 } });
  // filled from the host, to exactly the limit: a shell in the guest that filled it would free its own slot on exit
  const dir = hostCgroup(await guestPid(d, 'capped'), 'pids');
  const current = () => Number(readFileSync(`${dir}/pids.current`, 'utf8'));
  const fillers: ChildProcess[] = [];
  try {
    while (current() < 20) {
      const filler = spawn('sleep', ['300'], { stdio: 'ignore' });
      fillers.push(filler);
      writeFileSync(`${dir}/cgroup.procs`, String(filler.pid));
    }
    await assert.rejects(exec('capped', { command: ['echo', 'hi'] }), (e: LodgeError) => {
      assert.equal(e.code, 'CONFLICT', e.message);
      assert.match(e.message, /cannot exec in capped: it is at its process limit \(--processes 20\)/);
      assert.doesNotMatch(e.message, /runtime|goroutine|fatal error|pthread/);
      return true;
    });
  } finally {
    for (const filler of fillers) filler.kill('SIGKILL');
  }
  await sleep(200);
  assert.equal((await exec('capped', { command: ['echo', 'room'] })).stdout, 'room\n', 'exec works again once there is room');
});
