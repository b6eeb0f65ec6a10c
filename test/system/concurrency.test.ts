/**
 * Concurrency without lost updates, on real containers: a list running beside a restart
 * never records the guest stopped; a start that fails leaves the guest in error with why,
 * and a later start brings it back; a launch onto a network being deleted is refused
 * cleanly (no raw SQLite error, no half-made guest).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { Event } from '../../src/api/operations.js';
import { TestDaemon } from './harness.js';

const d = new TestDaemon({ netns: true });
before(async () => {
  await d.start();
  await d.buildBusybox();
});
after(() => d.cleanup());

test('a list beside a restart never records the guest stopped', async () => {
  await d.launch('r1', { networks: [] });
  const events: Event[] = [];
  const unsubscribe = await d.client.transport.stream('/1.0/events', (e) => events.push(e as Event));
  try {
    let lists = 0;
    let restarting = true;
    const lister = (async () => {
      while (restarting) {
        const r1 = (await d.client.guests.list()).find((g) => g.name === 'r1');
        assert.notEqual(r1?.state, 'stopped', 'a list in the middle of a restart');
        lists++;
      }
    })();
    for (let i = 0; i < 3; i++) await d.done(await d.client.guests.changeState('r1', { action: 'restart', timeout: 5 }));
    restarting = false;
    await lister;
    assert.ok(lists > 10, `lists ran during the restarts (${lists})`);
  } finally {
    unsubscribe();
  }
  const states = events.filter((e) => e.type === 'lifecycle' && e.target === 'r1').map((e) => e.action);
  assert.ok(states.includes('running'));
  assert.ok(!states.includes('stopped'), `no false stop was recorded: ${states.join(', ')}`);
  assert.equal((await d.client.guests.get('r1')).state, 'running');
});

test('a start that fails leaves the guest in error with the reason; the next start brings it back', async () => {
  await d.launch('f1', { networks: [], start: false });
  // a whiteout over the image's init in the guest's own upper layer: no init to run
  const whiteout = path.join((await d.client.guests.get('f1')).root!.path, 'upper', 'sbin', 'init');
  mkdirSync(path.dirname(whiteout), { recursive: true });
  execFileSync('mknod', [whiteout, 'c', '0', '0']);
  const op = await d.client.operations.wait((await d.client.guests.changeState('f1', { action: 'start' })).id, 60);
  assert.equal(op.status, 'failure');
  const failed = await d.client.guests.get('f1');
  assert.equal(failed.state, 'error');
  assert.match(failed.stateReason ?? '', /start of f1 failed/);
  assert.match(d.lodge(['list']).stdout, /f1\s+ct\s+error/);
  rmSync(whiteout);
  await d.done(await d.client.guests.changeState('f1', { action: 'start' }));
  assert.equal((await d.client.guests.get('f1')).state, 'running');
  assert.equal(d.lodge(['delete', '--force', 'f1']).code, 0);
});

test('a launch onto a network that is being deleted is refused, and leaves nothing', async () => {
  assert.equal(d.lodge(['network', 'create', 'gone']).code, 0);
  // sent together: whichever lodged takes first, the other is refused with a clear error, never a raw SQLite one
  const [deleted, launched] = await Promise.allSettled([
    d.client.networks.delete('gone'),
    d.client.guests.launch({ name: 'late', image: 'busybox', networks: [{ network: 'gone' }] }).then((op) => d.done(op)),
  ]);
  if (deleted.status === 'fulfilled') {
    assert.equal(launched.status, 'rejected');
    assert.match((launched as PromiseRejectedResult).reason.message, /networks\[0\]: network gone (is being deleted|not found)/);
  } else {
    assert.match(deleted.reason.message, /cannot delete network gone: guests use it \(late\)/);
    assert.equal(launched.status, 'fulfilled');
    assert.equal(d.lodge(['delete', '--force', 'late']).code, 0);
    assert.equal(d.lodge(['network', 'delete', 'gone']).code, 0);
  }
  assert.deepEqual((await d.client.guests.list()).map((g) => g.name).sort(), ['r1']);
  assert.ok(!(await d.client.networks.list()).some((n) => n.name === 'gone'));
});

test('a launch from an image being rebuilt is refused until the new image is in place', async () => {
  assert.equal(d.lodge(['delete', '--force', 'r1']).code, 0);
  const build = await d.client.images.build({ name: 'busybox' });
  await assert.rejects(d.client.guests.launch({ name: 'early', image: 'busybox', networks: [] }), /image: busybox is being rebuilt; launch from it once that is done/);
  await d.done(build);
  await d.launch('early', { networks: [] });
  assert.equal((await d.client.guests.get('early')).state, 'running');
});
