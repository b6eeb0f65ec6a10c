/**
 * A launch that lodged did not finish (it was killed half-way) is undone by the next lodged.
 * (Adoption of running guests after kill -9, for every kind: conformance.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { guestPid, TestDaemon } from './harness.js';

const d = new TestDaemon();
before(async () => {
  await d.start();
  await d.buildBusybox();
});
after(() => d.cleanup());

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
