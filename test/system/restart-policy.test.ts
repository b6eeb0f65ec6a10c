/**
 * Restart policies run by lodged's loop, on busybox containers (cheap): a guest whose init
 * exits non-zero is started again with a wait that doubles, each restart an operation in
 * `lodge autonomic log` with its reason; `no` and a clean end under on-failure (an init that
 * exits 0, a poweroff from inside) are left stopped, `always` restarts a clean end; a stop
 * through Lodge is never undone; a paused loop waits, and acts when resumed; a lodged started
 * again keeps the policy and starts a guest that ended meanwhile, once. Guests are made to end
 * by an init that exits (images of their own: busybox's rootfs with a script as init), by
 * busybox's poweroff, or by SIGKILL from the host.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Operation } from '../../src/api/operations.js';
import { guestPid, TestDaemon, waitForState } from './harness.js';

const d = new TestDaemon();

before(async () => {
  await d.start();
  await d.buildBusybox();
  // busybox's rootfs with two inits of a script each: one that fails, one that ends cleanly
  const scripts = path.join(d.dir, 'scripts');
  mkdirSync(scripts);
  for (const [file, code] of [['crash', 3], ['quit', 0]] as const) {
    writeFileSync(path.join(scripts, file), `#!/bin/sh\nexit ${code}\n`);
    chmodSync(path.join(scripts, file), 0o755);
  }
  const tarball = path.join(d.dir, 'inits.tar');
  execFileSync('tar', ['-C', path.join(d.stateDir, 'images', 'busybox', 'rootfs'), '-cf', tarball, '.']);
  execFileSync('tar', ['-C', scripts, '-rf', tarball, './crash', './quit']);
  for (const [name, init] of [['crashy', '/crash'], ['quitter', '/quit']] as const) {
    await d.done(await d.client.images.import({ name, init }, createReadStream(tarball)));
  }
});

after(() => d.cleanup());

/** The loop's operations on `guest`, oldest first. */
async function actionsOn(guest: string): Promise<Operation[]> {
  return (await d.client.autonomic.log(1000)).filter((o) => o.target === guest).reverse();
}

/** Polls (every 100 ms, at most `timeoutMs`) until `guest` has `count` restarts by the loop, each ended. */
async function restarts(guest: string, count: number, timeoutMs = 30_000): Promise<Operation[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ops = (await actionsOn(guest)).filter((o) => o.action === 'autonomic.restart' && o.status !== 'running');
    if (ops.length >= count || Date.now() > deadline) return ops;
    await sleep(100);
  }
}

test('an on-failure guest whose init exits non-zero is started again, each time after twice the wait; no and a clean end under on-failure stay stopped; always restarts a clean end', { timeout: 60_000 }, async () => {
  await Promise.all([
    d.launch('c1', { image: 'crashy', restart: 'on-failure' }),
    d.launch('n1', { image: 'crashy', restart: 'no' }),
    d.launch('q1', { image: 'quitter', restart: 'always' }),
    d.launch('q2', { image: 'quitter', restart: 'on-failure' }),
  ]);
  const ops = await restarts('c1', 3);
  assert.equal(ops.length, 3, `three restarts of c1: ${JSON.stringify(ops)}`);
  assert.deepEqual(
    ops.map((o) => o.reason),
    [1, 2, 3].map((n) => `c1 exited with code 3; restarting it (on-failure, attempt ${n}, after ${2 ** (n - 1)} s)`),
  );
  // each was started no sooner than its wait after the one before it
  for (let i = 1; i < ops.length; i++) {
    const gap = Date.parse(ops[i]!.createdAt) - Date.parse(ops[i - 1]!.createdAt);
    assert.ok(gap >= 2 ** i * 1000, `restart ${i + 1} came ${gap} ms after the one before, under its wait of ${2 ** i} s`);
  }
  const log = d.lodge(['autonomic', 'log']);
  assert.equal(log.code, 0, log.stderr);
  assert.match(log.stdout, /autonomic\.restart +c1 +success +c1 exited with code 3; restarting it \(on-failure, attempt 3, after 4 s\)/);

  // q1 restarts (always) a clean end; by the time c1 was restarted three times, n1 and q2 had their chance
  assert.equal((await restarts('q1', 1))[0]?.reason, 'q1 exited with code 0; restarting it (always, attempt 1, after 1 s)');
  for (const [name, how] of [['n1', 'exited with code 3'], ['q2', 'exited with code 0']]) {
    const g = await d.client.guests.get(name!);
    assert.deepEqual([g.state, g.stateReason], ['stopped', how], name);
    assert.deepEqual(await actionsOn(name!), [], `the loop did nothing to ${name}`);
  }

  // the policy is shown, and the status lists the guests that have one
  const info = d.lodge(['info', 'c1']);
  assert.match(info.stdout, /^Restart: +on-failure$/m);
  const list = JSON.parse(d.lodge(['list', '--format', 'json']).stdout) as Array<{ name: string; restart: string }>;
  assert.deepEqual(list.map((g) => [g.name, g.restart]), [['c1', 'on-failure'], ['n1', 'no'], ['q1', 'always'], ['q2', 'on-failure']]);
  const status = await d.client.autonomic.status();
  assert.equal(status.paused, false);
  assert.deepEqual(status.guests.map((g) => g.name), ['c1', 'q1', 'q2']);
  assert.ok(status.guests.find((g) => g.name === 'c1')!.restarts >= 3);
  for (const name of ['c1', 'n1', 'q1', 'q2']) await d.done(await d.client.guests.delete(name, true));
});

test('a guest stopped through lodge stop, or powered off from inside under on-failure, is not restarted; one killed is', { timeout: 60_000 }, async () => {
  assert.equal(d.lodge(['launch', 'busybox', 'a1', '--restart', 'always']).code, 0);
  assert.equal(d.lodge(['launch', 'busybox', 'k1', '--restart', 'on-failure']).code, 0);
  assert.equal(d.lodge(['launch', 'busybox', 'p1', '--restart', 'on-failure']).code, 0);
  const stop = d.lodge(['stop', 'a1', '--force']);
  assert.equal(stop.code, 0, stop.stderr);
  // busybox's poweroff: the kernel ends a container's init with SIGINT; it may be gone before the answer
  await d.client.guests.exec('p1', { command: ['poweroff'] }).catch(() => undefined);
  assert.equal((await waitForState(d, 'p1', 'stopped', 10_000)).stateReason, 'killed by signal 2');
  // k1 killed after a1 was stopped and p1 powered off: once the loop restarted k1, it had every chance to restart those
  process.kill(await guestPid(d, 'k1'), 'SIGKILL');
  assert.equal((await restarts('k1', 1))[0]?.reason, 'k1 killed by signal 9; restarting it (on-failure, attempt 1, after 1 s)');
  assert.equal((await waitForState(d, 'k1', 'running', 10_000)).state, 'running');
  const a1 = await d.client.guests.get('a1');
  assert.deepEqual([a1.state, a1.stateReason], ['stopped', 'stopped by force']);
  assert.deepEqual(await actionsOn('a1'), []);
  assert.deepEqual([(await d.client.guests.get('p1')).state, await actionsOn('p1')], ['stopped', []]);
  for (const name of ['a1', 'p1']) await d.done(await d.client.guests.delete(name, true));
});

test('a paused loop does not restart; resumed, it does what came due', { timeout: 60_000 }, async () => {
  const paused = d.lodge(['autonomic', 'pause']);
  assert.equal(paused.code, 0, paused.stderr);
  assert.match(d.lodge(['autonomic', 'status']).stdout, /^loop: paused/);
  const before = (await actionsOn('k1')).length;
  process.kill(await guestPid(d, 'k1'), 'SIGKILL');
  // the loop sees it end and plans its restart (the second in a row: 2 s)
  let due: string | undefined;
  for (const deadline = Date.now() + 10_000; !due && Date.now() < deadline; await sleep(100)) {
    due = (await d.client.autonomic.status()).guests.find((g) => g.name === 'k1')?.nextRestartAt;
  }
  assert.ok(due, 'k1 has a restart due');
  // past its time by more than a look: a running loop would have started it
  await sleep(Math.max(0, Date.parse(due) - Date.now()) + 1500);
  const k1 = await d.client.guests.get('k1');
  assert.deepEqual([k1.state, k1.stateReason], ['stopped', 'killed by signal 9']);
  assert.equal((await actionsOn('k1')).length, before, 'no action while paused');

  assert.equal(d.lodge(['autonomic', 'resume']).code, 0);
  const ops = await restarts('k1', before + 1);
  assert.equal(ops.at(-1)?.reason, 'k1 killed by signal 9; restarting it (on-failure, attempt 2, after 2 s)');
  assert.equal((await waitForState(d, 'k1', 'running', 10_000)).state, 'running');
  assert.equal((await d.client.autonomic.status()).paused, false);
});

test('a lodged started again keeps the policy and restarts a guest that ended while it was down, once', { timeout: 60_000 }, async () => {
  const pid = await guestPid(d, 'k1');
  const before = (await actionsOn('k1')).length;
  await d.kill9();
  process.kill(pid, 'SIGKILL');
  await d.start();
  const ops = await restarts('k1', before + 1);
  assert.equal(ops.at(-1)?.reason, 'k1 killed by signal 9; restarting it (on-failure, attempt 1, after 1 s)');
  assert.equal((await waitForState(d, 'k1', 'running', 10_000)).state, 'running');
  assert.equal((await d.client.guests.get('k1')).restart, 'on-failure');
  // the operation the dead lodged left is marked failed, not counted: one restart since
  assert.equal((await actionsOn('k1')).filter((o) => o.action === 'autonomic.restart').length - before, 1);
});
