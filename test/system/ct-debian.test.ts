/**
 * The debian/12 image: built with debootstrap, it boots systemd as PID 1 to a running
 * system (its cgroup delegated, its console reopened after systemd's hangup), takes the
 * guest's name, and powers off on the stop signal instead of being killed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestDaemon } from './harness.js';

const d = new TestDaemon();
before(async () => {
  if (spawnSync('which', ['debootstrap']).status !== 0) throw new Error('debootstrap is missing: install the Debian package debootstrap');
  await d.start();
});
after(() => d.cleanup());

const run = async (name: string, ...command: string[]) => (await d.client.guests.exec(name, { command })).stdout.trim();

test('debian/12 builds, and boots systemd to a running system', { timeout: 900_000 }, async () => {
  const build = d.lodge(['image', 'build', 'debian/12']);
  assert.equal(build.code, 0, build.stderr);
  assert.match(d.lodge(['image', 'list']).stdout, /^debian\/12\s+\d+(\.\d)?M\s+\/sbin\/init\s+built with debootstrap/m);
  await d.launch('deb-a', { image: 'debian/12', limits: { memory: '512M' } });
  await d.launch('deb-b', { image: 'debian/12', limits: { memory: '512M' } });
  let state = '';
  for (let i = 0; i < 60 && !['running', 'degraded'].includes(state); i++) {
    await sleep(500);
    state = (await d.client.guests.exec('deb-a', { command: ['systemctl', 'is-system-running'] })).stdout.trim();
  }
  assert.equal(state, 'running', `systemd reached ${state}: ${await run('deb-a', 'systemctl', '--failed', '--no-legend')}`);
  assert.equal(await run('deb-a', 'cat', '/proc/1/comm'), 'systemd');
  assert.equal(await run('deb-a', 'hostname'), 'deb-a');
  assert.notEqual(await run('deb-a', 'cat', '/etc/machine-id'), await run('deb-b', 'cat', '/etc/machine-id'), 'each guest has its own machine id');
  assert.equal(await run('deb-a', 'id', '-u'), '0');
  // the console came back after systemd's hangup: the login prompt is on it
  let log = '';
  for (let i = 0; i < 40 && !/deb-a login:/.test(log); i++) {
    await sleep(250);
    log = d.lodge(['console', 'deb-a', '--log']).stdout;
  }
  assert.match(log, /deb-a login:/);
});

test('stop powers systemd off cleanly, well before the timeout', async () => {
  const t0 = Date.now();
  const stop = d.lodge(['stop', 'deb-a', '--timeout', '60']);
  assert.equal(stop.code, 0, stop.stderr);
  assert.ok(Date.now() - t0 < 30_000, `it took ${Date.now() - t0} ms: the stop signal was not acted on`);
  assert.match(d.lodge(['console', 'deb-a', '--log']).stdout, /Powering off\./);
  assert.equal((await d.client.guests.get('deb-a')).state, 'stopped');
});
