/**
 * Cancelling long work on real engines: a launch cancelled through the API, one whose
 * lodged is told to stop, and one whose `lodge launch` gets Ctrl-C all end CANCELLED with
 * nothing of the guest left: no row, no root volume, no mount, no cgroup, no process.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { lodgeBin, requireProgram, TestDaemon } from './harness.js';

const d = new TestDaemon();
before(async () => {
  requireProgram('/usr/bin/qemu-system-x86_64', 'qemu-system-x86');
  await d.start();
  await d.buildBusybox();
});
after(() => d.cleanup());

async function assertNothingLeft(name: string): Promise<void> {
  assert.equal((await d.client.guests.list()).find((g) => g.name === name), undefined, 'no guest');
  assert.deepEqual(d.rootVolumes(), [], 'no root volume');
  assert.deepEqual(d.mounts(), [], 'no mount');
  assert.deepEqual(d.cgroups(), [], 'no cgroup');
  assert.deepEqual(d.runtimeContainers(), [], 'nothing in the runtime');
}

test('a vm launch cancelled through the API stops before its engine runs, undoes what it made, and says so', async () => {
  // a fresh lodged's first vm start probes the accelerator for seconds: the cancel lands before QEMU runs
  const op = await d.client.guests.launch({ name: 'v1', image: 'busybox', kind: 'vm', networks: [] });
  const asked = await d.client.operations.cancel(op.id);
  assert.equal(asked.status, 'running');
  const ended = await d.client.operations.wait(op.id, 60);
  assert.equal(ended.error?.code, 'CANCELLED', JSON.stringify(ended.error));
  assert.match(ended.error!.message, /^guest\.launch of v1 was cancelled by a client; what it had made was undone \(at step: /);
  await assertNothingLeft('v1');
  const again = d.lodge(['operation', 'cancel', op.id]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /has ended \(failure\): there is nothing to cancel/);
});

test('a launch under way when lodged is told to stop is undone before it exits, and the operation says why', async () => {
  const op = await d.client.guests.launch({ name: 'v2', image: 'busybox', kind: 'vm', networks: [] });
  await d.stop();
  await d.start();
  const ended = await d.client.operations.get(op.id);
  assert.equal(ended.error?.code, 'CANCELLED', JSON.stringify(ended.error));
  assert.match(ended.error!.message, /was called off: lodged is shutting down/);
  await assertNothingLeft('v2');
});

test('Ctrl-C of lodge launch cancels the launch and waits for its undo; the name is free again', async () => {
  const cli = spawn(process.execPath, [lodgeBin, 'launch', 'busybox', 'p1', '--kind', 'pv', '--network', 'none'], { env: { ...process.env, LODGE_SOCKET: d.socket }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  cli.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => cli.once('exit', (code) => resolve(code)));
  for (let i = 0; !(await d.client.operations.list()).some((o) => o.target === 'p1' && o.status === 'running'); i++) {
    assert.ok(i < 200, `the launch did not begin: ${stderr}`);
    await sleep(25);
  }
  cli.kill('SIGINT');
  assert.equal(await exited, 1, stderr);
  assert.match(stderr, /cancelling guest\.launch of p1 \(Ctrl-C again to stop waiting; lodged then goes on alone\)/);
  assert.match(stderr, /guest\.launch of p1 was cancelled by a client; what it had made was undone/);
  await assertNothingLeft('p1');
  await d.launch('p1', { kind: 'pv', networks: [] });
  assert.equal((await d.client.guests.get('p1')).state, 'running');
});
