/**
 * What only full virtual machines on real QEMU (TCG here) have: Debian's cloud kernel boots
 * to a shell on the serial console with the vCPUs and memory asked for, QEMU unprivileged
 * and sandboxed; the QMP client; the balloon; a volume as a virtio disk named by its serial;
 * a disk QEMU cannot open. (What every kind does, vm included: conformance.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Qmp } from '../../src/drivers/vm/qmp.js';
import { consoleExpect, guestPid, hostCgroup, requireProgram, TestDaemon } from './harness.js';

const d = new TestDaemon();
before(async () => {
  requireProgram('/usr/bin/qemu-system-x86_64', 'qemu-system-x86');
  await d.start();
  await d.buildBusybox();
});
after(() => d.cleanup());

const onConsole = (name: string, command: string, pattern: RegExp) => consoleExpect(d, name, `${command}\n`, pattern, 60_000, 2000);
const argvOf = async (name: string) => readFileSync(`/proc/${await guestPid(d, name)}/cmdline`, 'utf8').split('\0');

test('a vm boots the cloud kernel to a shell on its serial console, with its vCPUs and memory', { timeout: 300_000 }, async () => {
  const launch = d.lodge(['launch', 'busybox', 'vm1', '--kind', 'vm', '--memory', '256M', '--cpu', '1']);
  assert.equal(launch.code, 0, launch.stderr);
  const out = await onConsole('vm1', 'echo "R=$(uname -r) H=$(hostname) N=$(nproc) M=$(sed -n "s/MemTotal: *//p" /proc/meminfo)"', /R=\S+ H=\S+ N=\d+ M=\d+ kB/);
  const [, release, host, cpus, memKb] = /R=(\S+) H=(\S+) N=(\d+) M=(\d+) kB/.exec(out)!;
  assert.match(release!, /-cloud-amd64$/, "Debian's cloud kernel, not the host's");
  assert.notEqual(release, execFileSync('uname', ['-r']).toString().trim());
  assert.equal(host, 'vm1');
  assert.equal(cpus, '1');
  const mem = Number(memKb) / 1024;
  assert.ok(mem > 180 && mem <= 256, `MemTotal fits 256M (${mem.toFixed(1)}M)`);
  const argv = await argvOf('vm1');
  const accel = (await d.client.guests.get('vm1')).machine!.accel;
  assert.equal(argv[argv.indexOf('-accel') + 1]!.split(',')[0], accel, 'QEMU runs on the accelerator the guest reports');
  assert.ok(argv.includes('-sandbox'));
  const pid = await guestPid(d, 'vm1');
  assert.ok(Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) >= 1_200_000, 'QEMU runs unprivileged');
  assert.equal(Number(readFileSync(`${hostCgroup(pid, 'memory')}/memory.limit_in_bytes`, 'utf8')), (256 + 256) * 1024 * 1024);
  assert.match(d.lodge(['info', 'vm1']).stdout, new RegExp(`Engine:\\s+QEMU emulator version .*\\nAccelerator: ${accel} \\(auto: `));
});

test('the QMP client speaks to the real QEMU: status, vCPUs, block stats, balloon, errors', async () => {
  const socket = path.join(path.dirname((await argvOf('vm1')).find((a) => a.startsWith('unix:'))!.slice(5).split(',')[0]!), 'qmp.sock');
  const qmp = await Qmp.connect(socket);
  try {
    assert.deepEqual(await qmp.status(), { status: 'running', singlestep: false, running: true });
    assert.equal((await qmp.cpus()).length, 1);
    assert.ok((await qmp.blockStats()).some((b) => b.stats.wr_operations !== undefined), 'the disk has counters');
    await qmp.balloon(200 * 1024 * 1024);
    await assert.rejects(qmp.execute('no-such-command'), /CommandNotFound/);
  } finally {
    qmp.close();
  }
});

test('a smaller --memory on a running vm inflates its balloon; a larger one must wait for a stop', { timeout: 120_000 }, async () => {
  const set = d.lodge(['set', 'vm1', '--memory', '160M']);
  assert.equal(set.code, 0, set.stderr);
  const target = 160 * 1024 * 1024;
  for (let i = 0; i < 60 && (await d.client.guests.get('vm1')).machine?.stats?.balloonBytes !== target; i++) await sleep(500);
  const machine = (await d.client.guests.get('vm1')).machine!;
  assert.equal(machine.stats?.balloonBytes, target, 'the guest gave the memory back');
  assert.equal(machine.memoryBytes, 256 * 1024 * 1024, 'it still has the memory it booted with');
  const out = await onConsole('vm1', 'echo M=$(sed -n "s/MemTotal: *//p" /proc/meminfo)', /M=\d+ kB/);
  assert.ok(Number(/M=(\d+) kB/.exec(out)![1]) / 1024 <= 160, 'MemTotal shrank with the balloon');
  assert.match(d.lodge(['set', 'vm1', '--memory', '512M']).stderr, /limits\.memory: a running vm cannot grow past the 256M it booted with; stop it, set the limit, start it/);
});

test('vCPUs are plugged into a running vm and online in it; fewer (under TCG), and more than its machine has room for, wait for the next start', { timeout: 180_000 }, async () => {
  const nproc = async () => Number(/N=(\d+)/.exec(await onConsole('vm1', 'echo N=$(grep -c ^processor /proc/cpuinfo)/$(cat /sys/devices/system/cpu/online)', /N=\d+\/\S+/))![1]);
  const room = availableParallelism();
  const more = d.lodge(['set', 'vm1', '--cpu', String(room)]);
  assert.match(more.stderr, new RegExp(`^vm1: cpu ${room}: changed$`, 'm'), more.stderr);
  assert.equal(await nproc(), room, 'the plugged vCPUs are online in the guest');
  const past = d.lodge(['set', 'vm1', '--cpu', String(room + 1)]);
  assert.match(past.stderr, new RegExp(`^vm1: cpu ${room + 1}: at next start \\(its machine has room for ${room} vCPUs until then; it has ${room} now\\)$`, 'm'), past.stderr);
  // KVM would unplug the plugged ones; TCG (here) keeps them to the next start
  const accel = (await d.client.guests.get('vm1')).machine!.accel;
  const fewer = d.lodge(['set', 'vm1', '--cpu', '1']);
  if (accel === 'tcg') assert.match(fewer.stderr, new RegExp(`^vm1: cpu 1: at next start \\(it keeps its ${room} vCPUs until then \\(under TCG a vCPU unplugged could not be plugged in again\\)\\)$`, 'm'), fewer.stderr);
  else assert.match(fewer.stderr, /^vm1: cpu 1: changed$/m, fewer.stderr);
  assert.equal(await nproc(), accel === 'tcg' ? room : 1);
  assert.equal((await d.client.guests.get('vm1')).state, 'running');
});

test('a volume hot-plugged through QMP is a virtio disk whose serial is its name, and goes again', { timeout: 240_000 }, async () => {
  await d.client.volumes.create({ name: 'vmdata', size: '64M' });
  const v = await d.client.volumes.attach('vm1', { volume: 'vmdata' });
  assert.equal(v.attachedTo?.device, '/dev/disk/by-id/virtio-vmdata');
  // the guest's kernel sees the disk, with the volume's name as its serial
  await onConsole('vm1', 'for b in /sys/block/vd*; do echo "disk $(basename $b) $(cat $b/serial)"; done', /disk vd\w+ vmdata/);
  await d.client.volumes.detach('vm1', 'vmdata');
  assert.equal((await d.client.volumes.get('vmdata')).attachedTo, undefined);
  await d.client.volumes.delete('vmdata');
});

test('a disk QEMU cannot open: the start fails and says why, and the guest is in error until deleted', async () => {
  // a guest whose disk is not a qcow2 any more: QEMU refuses it, the start fails and says why
  assert.equal(d.lodge(['launch', 'busybox', 'broken', '--kind', 'vm', '--no-start']).code, 0);
  const disk = path.join((await d.client.guests.get('broken')).root!.path, 'root.qcow2');
  writeFileSync(disk, 'not a disk image');
  const start = d.lodge(['start', 'broken']);
  assert.equal(start.code, 1);
  assert.match(start.stderr, /start of broken failed .*QEMU did not start: .*root\.qcow2.*Image is not in qcow2 format/);
  // its engine failed: the guest is in error, with why, until it is started again or deleted
  const broken = await d.client.guests.get('broken');
  assert.equal(broken.state, 'error');
  assert.match(broken.stateReason ?? '', /^start of broken failed: QEMU did not start: .*Image is not in qcow2 format/);
  assert.match(d.lodge(['exec', 'broken', '--', 'true']).stderr, /cannot exec in broken: it is in error, not running/);
  assert.equal(d.lodge(['delete', 'broken']).code, 0);
  assert.equal(d.lodge(['delete', '--force', 'vm1']).code, 0);
  assert.deepEqual(d.cgroups(), [], 'no cgroup is left');
  assert.equal(spawnSync('pgrep', ['-f', `qemu-system.*${d.stateDir}`]).status, 1, 'no QEMU is left');
});
