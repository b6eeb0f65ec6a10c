/**
 * Guests outlive the daemon: kill -9 of lodged leaves them running with their consoles;
 * the next lodged adopts them, and marks a guest that died meanwhile as stopped.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { consoleExpect, guestPid, TestDaemon } from './harness.js';

const d = new TestDaemon();
before(async () => {
  await d.start();
  await d.buildBusybox();
});
after(() => d.cleanup());

test('kill -9 of lodged: running guests survive, are adopted, and their consoles work', async () => {
  for (const name of ['keep1', 'keep2', 'doomed']) await d.launch(name);
  const pids = Object.fromEntries(await Promise.all(['keep1', 'keep2', 'doomed'].map(async (n) => [n, await guestPid(d, n)] as const)));
  await consoleExpect(d, 'keep1', 'echo before-$((1+1))\n', /before-2/);

  await d.kill9();
  for (const [name, pid] of Object.entries(pids)) assert.ok(existsSync(`/proc/${pid}`), `${name} runs on without lodged`);
  // one guest dies while nobody watches
  process.kill(pids.doomed!, 'SIGKILL');
  for (let i = 0; i < 50 && existsSync(`/proc/${pids.doomed}`); i++) await sleep(20);

  await d.start();
  assert.match(d.stderr, /keep1: adopted, running/);
  assert.match(d.stderr, /doomed: running → stopped \(killed by signal 9\)/);
  const guests = Object.fromEntries((await d.client.guests.list()).map((g) => [g.name, g]));
  assert.equal(guests.keep1!.state, 'running');
  assert.equal(guests.keep2!.state, 'running');
  assert.equal(guests.doomed!.state, 'stopped');
  assert.equal(guests.doomed!.stateReason, 'killed by signal 9');
  assert.equal(await guestPid(d, 'keep1'), pids.keep1, 'the same process, adopted, not restarted');

  // the consoles that lived through it still answer, and keep what they showed
  await consoleExpect(d, 'keep1', 'echo after-$((2+2))\n', /after-4/);
  await consoleExpect(d, 'keep2', 'echo also-$((3+3))\n', /also-6/);
  assert.match(d.lodge(['console', 'keep1', '--log']).stdout, /before-2[\s\S]*after-4/);
  assert.equal((await d.client.guests.exec('keep2', { command: ['hostname'] })).stdout, 'keep2\n');

  // the adopted guests can be driven as before, and the dead one started again
  assert.equal(d.lodge(['stop', 'keep2', '--timeout', '5']).code, 0);
  assert.equal(d.lodge(['start', 'doomed']).code, 0);
  assert.equal((await d.client.guests.get('doomed')).state, 'running');
});

test('a launch interrupted by the daemon dying leaves nothing once lodged is back', async () => {
  // what a lodged killed mid-launch leaves: the row in state creating, and host resources made so far
  await d.launch('halfway');
  const pid = await guestPid(d, 'halfway');
  await d.kill9();
  const db = new Database(path.join(d.stateDir, 'lodge.db'));
  db.prepare("UPDATE guests SET state = 'creating' WHERE name = 'halfway'").run();
  db.close();
  assert.ok(d.runtimeContainers().length > 0);

  await d.start();
  assert.match(d.stderr, /removing halfway: its launch was interrupted/);
  assert.equal((await d.client.guests.list()).find((g) => g.name === 'halfway'), undefined, 'no half-made guest is listed');
  for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) await sleep(20);
  assert.ok(!existsSync(`/proc/${pid}`), 'its process is gone');
  const left = d.runtimeContainers().length;
  assert.equal(left, (await d.client.guests.list()).filter((g) => g.state === 'running').length, 'only the other guests remain in the runtime');
  assert.deepEqual(d.mounts(), [], "no guest's root is mounted on the host: each is in its own mount namespace");
});
