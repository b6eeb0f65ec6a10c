/**
 * System containers end to end on real runc: launch, exec, console, stop, start,
 * restart, pause and resume, delete; list and info tell the truth throughout.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Event } from '../../src/api/operations.js';
import { consoleExpect, guestPid, hostCgroup, TestDaemon, waitForState } from './harness.js';

const d = new TestDaemon();
before(async () => {
  await d.start();
  await d.buildBusybox();
});
after(() => d.cleanup());

test('launch runs the image init as PID 1, and list and info show it running', async () => {
  const events: Event[] = [];
  const unsubscribe = await d.client.operations.events((e) => events.push(e));
  const launch = d.lodge(['launch', 'busybox', 'life1', '--memory', '128M']);
  assert.equal(launch.code, 0, launch.stderr);
  await sleep(100);
  unsubscribe();
  assert.ok(events.some((e) => e.type === 'lifecycle' && e.target === 'life1' && e.action === 'running'), 'a lifecycle event says it runs');
  const ops = events.filter((e) => e.type === 'operation' && e.target === 'life1');
  assert.deepEqual([ops[0]?.detail?.status, ops.at(-1)?.detail?.status], ['running', 'success']);
  assert.ok(ops.some((e) => e.detail?.step === 'preparing the root filesystem'), 'progress steps are streamed');
  const list = d.lodge(['list']);
  assert.match(list.stdout, /^life1\s+ct\s+running\s+busybox\s+mem 128M$/m);
  const json = JSON.parse(d.lodge(['list', '--format', 'json']).stdout) as Array<{ name: string; state: string }>;
  assert.deepEqual(json.map((g) => [g.name, g.state]), [['life1', 'running']]);
  const info = d.lodge(['info', 'life1']);
  assert.match(info.stdout, /State:\s+running/);
  assert.match(info.stdout, /Engine:\s+runc/);
  const ps = d.lodge(['exec', 'life1', '--', 'cat', '/proc/1/cmdline']);
  assert.equal(ps.stdout.replaceAll('\0', ' ').trim(), 'init');
});

test('exec passes output, stdin, environment and the exit code through', async () => {
  const r = d.lodge(['exec', 'life1', '--env', 'WHO=lodge', '--', 'sh', '-c', 'read line; echo "$line $WHO"; echo oops >&2; exit 7'], 'hello');
  assert.equal(r.code, 7);
  assert.equal(r.stdout, 'hello lodge\n');
  assert.equal(r.stderr, 'oops\n');
  const api = await d.client.guests.exec('life1', { command: ['pwd'], cwd: '/tmp' });
  assert.deepEqual(api, { exitCode: 0, stdout: '/tmp\n', stderr: '' });
});

test('exec -t runs an interactive command on a pty, with its exit code', async () => {
  const r = d.lodge(['exec', '-t', 'life1', '--', 'sh', '-c', 'tty; read x; echo "got $x"; exit 5'], 'typed\n');
  assert.equal(r.code, 5, r.stderr);
  assert.match(r.stdout, /^\/dev\/pts\/\d+\r?$/m, 'the command has a terminal');
  assert.match(r.stdout, /got typed/);
  const refused = d.lodge(['exec', '-t', 'nosuch', '--', 'sh']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /guest nosuch not found/);
});

test('the console takes input and shows output, live and in its log', async () => {
  const seen = await consoleExpect(d, 'life1', 'echo console-$((6*7))\n', /console-42/);
  assert.match(seen, /console-42/);
  const log = d.lodge(['console', 'life1', '--log']);
  assert.equal(log.code, 0);
  assert.match(log.stdout, /BusyBox/);
  assert.match(log.stdout, /console-42/);
});

test('pause freezes every process and resume thaws them', async () => {
  await d.client.guests.exec('life1', { command: ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done > /dev/null 2>&1 &'] });
  await sleep(300);
  assert.equal(d.lodge(['pause', 'life1']).code, 0);
  assert.match(d.lodge(['list']).stdout, /life1\s+ct\s+paused/);
  const freezer = readFreezer(await guestPid(d, 'life1'));
  assert.equal(freezer, 'FROZEN');
  const exec = d.lodge(['exec', 'life1', '--', 'true']);
  assert.notEqual(exec.code, 0);
  assert.match(exec.stderr, /cannot exec in life1: it is paused/);
  assert.equal(d.lodge(['resume', 'life1']).code, 0);
  const a = Number((await d.client.guests.exec('life1', { command: ['cat', '/tmp/count'] })).stdout);
  await sleep(400);
  const b = Number((await d.client.guests.exec('life1', { command: ['cat', '/tmp/count'] })).stdout);
  assert.ok(b > a, `the counter moves again after resume (${a} then ${b})`);
});

function readFreezer(pid: number): string {
  return readFileSync(`${hostCgroup(pid, 'freezer')}/freezer.state`, 'utf8').trim();
}

test('stop asks init to shut down; start and restart bring the guest back', async () => {
  const pid = await guestPid(d, 'life1');
  const stop = d.lodge(['stop', 'life1', '--timeout', '10']);
  assert.equal(stop.code, 0, stop.stderr);
  const info = await d.client.guests.get('life1');
  assert.equal(info.state, 'stopped');
  assert.equal(info.stateReason, 'stopped on request');
  assert.ok(!existsSync(`/proc/${pid}`), 'init is gone');
  // init ran its shutdown actions (it was not killed): its log ends with them
  const log = d.lodge(['console', 'life1', '--log']).stdout;
  assert.match(log, /The system is going down NOW!|Sent SIG(TERM|KILL) to all processes/);

  assert.equal(d.lodge(['start', 'life1']).code, 0);
  const pid2 = await guestPid(d, 'life1');
  assert.notEqual(pid2, pid);
  assert.equal(d.lodge(['restart', 'life1', '--timeout', '10']).code, 0);
  const pid3 = await guestPid(d, 'life1');
  assert.notEqual(pid3, pid2);
  assert.equal((await d.client.guests.get('life1')).state, 'running');
});

test('a hung guest that ignores the stop signal is killed after the timeout; force kills at once', async () => {
  await d.launch('stubborn');
  const pid = await guestPid(d, 'stubborn');
  // freeze init's handling: SIGSTOP cannot be caught, so the stop signal waits forever
  process.kill(pid, 'SIGSTOP');
  const started = Date.now();
  const stop = d.lodge(['stop', 'stubborn', '--timeout', '1']);
  assert.equal(stop.code, 0, stop.stderr);
  assert.ok(Date.now() - started >= 1000, 'it waited for the timeout first');
  assert.ok(!existsSync(`/proc/${pid}`));
  await d.done(await d.client.guests.changeState('stubborn', { action: 'start' }));
  const force = d.lodge(['stop', 'stubborn', '--force']);
  assert.equal(force.code, 0, force.stderr);
  assert.equal((await d.client.guests.get('stubborn')).stateReason, 'stopped by force');
});

test('a guest whose init ends on its own shows as stopped, with the reason', async () => {
  await d.launch('selfstop');
  await d.client.guests.exec('selfstop', { command: ['poweroff'] });
  const g = await waitForState(d, 'selfstop', 'stopped', 10_000);
  assert.equal(g.state, 'stopped');
  assert.match(g.stateReason ?? '', /killed by signal|exited with code/);
});

test('delete refuses a running guest without force and leaves nothing behind', async () => {
  const refused = d.lodge(['delete', 'life1']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /cannot delete life1: it is running; stop it first or use force/);
  for (const name of ['life1', 'stubborn', 'selfstop']) assert.equal(d.lodge(['delete', '--force', name]).code, 0);
  assert.equal(d.lodge(['list']).stdout.trim().split('\n').length, 1, 'only the header is left');
  assert.deepEqual(d.runtimeContainers(), []);
  assert.deepEqual(d.mounts(), []);
  assert.deepEqual(d.cgroups(), []);
});
