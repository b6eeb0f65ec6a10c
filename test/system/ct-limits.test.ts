/**
 * Limits through cgroups: a memory hog dies inside its guest while the host and other
 * guests go on; a fork bomb stops at the process limit; a live change takes effect.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { guestPid, hostCgroup, TestDaemon } from './harness.js';

const d = new TestDaemon();
before(async () => {
  await d.start();
  await d.buildBusybox();
});
after(() => d.cleanup());

const run = (name: string, script: string) => d.client.guests.exec(name, { command: ['sh', '-c', script] });

test('a memory hog is killed inside its guest; the guest and its neighbour go on', async () => {
  await d.launch('hog', { limits: { memory: '32M' } });
  await d.launch('neighbour');
  const pid = await guestPid(d, 'hog');
  assert.equal(readFileSync(`${hostCgroup(pid, 'memory')}/memory.limit_in_bytes`, 'utf8').trim(), String(32 * 1024 * 1024));
  // a shell variable that doubles until it needs far more than 32M
  const hog = await run('hog', 'x=0123456789abcdef; while true; do x="$x$x"; done');
  assert.equal(hog.exitCode, 137, `the hog is killed by the OOM killer (exit ${hog.exitCode})`);
  assert.equal((await d.client.guests.get('hog')).state, 'running');
  assert.equal((await run('hog', 'echo alive')).stdout, 'alive\n');
  assert.equal((await run('neighbour', 'echo alive')).stdout, 'alive\n');
});

/** Processes in the guest's cgroup, counted from the host. */
const processes = async (name: string) => Number(readFileSync(`${hostCgroup(await guestPid(d, name), 'pids')}/pids.current`, 'utf8'));

/** Kills every process of a guest but its init, from the host (the guest may have no pid left to do it). */
async function killAllButInit(name: string): Promise<void> {
  const init = await guestPid(d, name);
  const procsFile = `${hostCgroup(init, 'pids')}/cgroup.procs`;
  const others = () => readFileSync(procsFile, 'utf8').split('\n').filter(Boolean).map(Number).filter((p) => p !== init);
  for (const p of others()) process.kill(p, 'SIGKILL');
  // init's respawned console shell may come back; the sleeps must be gone
  for (let i = 0; i < 100 && (await processes(name)) > 3; i++) await sleep(20);
}

const spawnSleeps = (n: number) => `for i in $(seq ${n}); do sleep 30 </dev/null >/dev/null 2>&1 & done 2>/dev/null; echo started`;

test('a fork bomb stops at the process limit', async () => {
  await d.launch('bomb', { limits: { processes: 20 } });
  await run('bomb', spawnSleeps(60));
  const count = await processes('bomb');
  assert.ok(count <= 20, `at most 20 processes (saw ${count})`);
  assert.ok(count >= 18, `the limit, not something else, stopped it (saw ${count})`);
  assert.equal((await d.client.guests.get('bomb')).usage?.processes, count);
  await killAllButInit('bomb');
  assert.equal((await run('bomb', 'echo recovered')).stdout, 'recovered\n');
});

test('a live limit change applies to the running guest', async () => {
  await d.launch('live', { limits: { processes: 100, memory: '64M' } });
  await run('live', spawnSleeps(30));
  assert.ok((await processes('live')) > 30, 'with 100 allowed, 30 sleeps start');
  await killAllButInit('live');
  const set = d.lodge(['set', 'live', '--processes', '10', '--memory', '48M', '--cpu', '0.5']);
  assert.equal(set.code, 0, set.stderr);
  await run('live', spawnSleeps(30));
  assert.ok((await processes('live')) <= 10, 'with 10 allowed, the sleeps stop at 10');
  await killAllButInit('live');
  const pid = await guestPid(d, 'live');
  assert.equal(readFileSync(`${hostCgroup(pid, 'memory')}/memory.limit_in_bytes`, 'utf8').trim(), String(48 * 1024 * 1024));
  assert.equal(readFileSync(`${hostCgroup(pid, 'cpu')}/cpu.cfs_quota_us`, 'utf8').trim(), '50000');
  const g = await d.client.guests.get('live');
  assert.deepEqual(g.limits, { processes: 10, memory: '48M', cpu: 0.5 });
  // and the limits survive a restart of the guest
  await d.done(await d.client.guests.changeState('live', { action: 'restart', timeout: 5 }));
  assert.equal(readFileSync(`${hostCgroup(await guestPid(d, 'live'), 'pids')}/pids.max`, 'utf8').trim(), '10');
});

test('a sized disk fills up inside the guest, which goes on; delete removes its volume', async () => {
  await d.launch('small', { limits: { disk: '40M' } });
  const root = (await d.client.guests.get('small')).root!;
  assert.equal(root.sizeBytes, 40 * 1024 * 1024);
  const fill = await run('small', 'dd if=/dev/zero of=/big bs=1M count=100 2>&1; echo "status $?"');
  // ENOSPC on a dir pool's ext4, EDQUOT from a btrfs pool's quota group (storage.test.ts has both)
  assert.match(fill.stdout, /No space left on device|Disk quota exceeded/);
  assert.match(fill.stdout, /status 1/);
  assert.equal((await d.client.guests.get('small')).state, 'running');
  assert.equal((await run('small', 'rm /big && echo freed')).stdout, 'freed\n');
  await assert.rejects(d.client.guests.update('small', { limits: { disk: '1G' } }), { code: 'UNSUPPORTED', message: /limits\.disk: the disk size of small is set at launch and cannot change/ });
  const tooSmall = d.lodge(['launch', 'busybox', 'tiny', '--disk', '1M']);
  assert.match(tooSmall.stderr, /limits\.disk: 1M is below the 32M/);
  const pools = d.mounts();
  await d.done(await d.client.guests.delete('small', true));
  assert.equal(existsSync(root.path), false, 'its volume is gone');
  assert.deepEqual(d.mounts(), pools, 'no mount of it is left on the host');
});
