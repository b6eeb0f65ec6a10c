/**
 * A container's limits are its cgroup's: the values asked for, exactly; a fork bomb stops at
 * the process limit; a live change takes effect and outlives a restart; pause freezes the
 * cgroup; a sized disk fills up inside. (A memory hog, the CPU quota and a live change in
 * every kind: conformance.ts.)
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
  const memoryLimit = async () => readFileSync(`${hostCgroup(await guestPid(d, 'live'), 'memory')}/memory.limit_in_bytes`, 'utf8').trim();
  assert.equal(await memoryLimit(), String(64 * 1024 * 1024), 'the memory asked for, exactly: a container has no engine beside it');
  await run('live', spawnSleeps(30));
  assert.ok((await processes('live')) > 30, 'with 100 allowed, 30 sleeps start');
  await killAllButInit('live');
  const set = d.lodge(['set', 'live', '--processes', '10', '--memory', '48M', '--cpu', '0.5']);
  assert.equal(set.code, 0, set.stderr);
  await run('live', spawnSleeps(30));
  assert.ok((await processes('live')) <= 10, 'with 10 allowed, the sleeps stop at 10');
  await killAllButInit('live');
  assert.equal(await memoryLimit(), String(48 * 1024 * 1024));
  assert.equal(readFileSync(`${hostCgroup(await guestPid(d, 'live'), 'cpu')}/cpu.cfs_quota_us`, 'utf8').trim(), '50000');
  const g = await d.client.guests.get('live');
  assert.deepEqual(g.limits, { processes: 10, memory: '48M', cpu: 0.5 });
  // and the limits survive a restart of the guest
  await d.done(await d.client.guests.changeState('live', { action: 'restart', timeout: 5 }));
  assert.equal(readFileSync(`${hostCgroup(await guestPid(d, 'live'), 'pids')}/pids.max`, 'utf8').trim(), '10');
});

test('pause freezes the guest\'s cgroup and resume thaws it', async () => {
  const freezer = async () => readFileSync(`${hostCgroup(await guestPid(d, 'live'), 'freezer')}/freezer.state`, 'utf8').trim();
  await d.done(await d.client.guests.changeState('live', { action: 'pause' }));
  assert.equal(await freezer(), 'FROZEN');
  await d.done(await d.client.guests.changeState('live', { action: 'resume' }));
  assert.equal(await freezer(), 'THAWED');
  assert.equal((await run('live', 'echo thawed')).stdout, 'thawed\n');
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
