/**
 * Full virtual machines on real QEMU under TCG: Debian's cloud kernel boots to a shell
 * on the serial console with the vCPUs and memory asked for; pause and resume; the ACPI
 * power button stops it; a hung guest is killed; guests share their image's base disk;
 * adoption after kill -9; bad input.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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
const consoleLog = (name: string) => d.lodge(['console', name, '--log']).stdout;
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const argvOf = async (name: string) => readFileSync(`/proc/${await guestPid(d, name)}/cmdline`, 'utf8').split('\0');

test('a vm boots the cloud kernel to a shell on its serial console, with its vCPUs and memory', { timeout: 300_000 }, async () => {
  const launch = d.lodge(['launch', 'busybox', 'vm1', '--kind', 'vm', '--memory', '256M', '--cpu', '2']);
  assert.equal(launch.code, 0, launch.stderr);
  const out = await onConsole('vm1', 'echo "R=$(uname -r) H=$(hostname) N=$(nproc) M=$(sed -n "s/MemTotal: *//p" /proc/meminfo)"', /R=\S+ H=\S+ N=\d+ M=\d+ kB/);
  const [, release, host, cpus, memKb] = /R=(\S+) H=(\S+) N=(\d+) M=(\d+) kB/.exec(out)!;
  assert.match(release!, /-cloud-amd64$/, "Debian's cloud kernel, not the host's");
  assert.notEqual(release, execFileSync('uname', ['-r']).toString().trim());
  assert.equal(host, 'vm1');
  assert.equal(cpus, '2');
  const mem = Number(memKb) / 1024;
  assert.ok(mem > 180 && mem <= 256, `MemTotal fits 256M (${mem.toFixed(1)}M)`);
  const argv = await argvOf('vm1');
  const accel = (await d.client.guests.get('vm1')).machine!.accel;
  assert.equal(argv[argv.indexOf('-accel') + 1], accel, 'QEMU runs on the accelerator the guest reports');
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
    assert.equal((await qmp.cpus()).length, 2);
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

test('pause stops the guest (a console counter stops) and resume continues it', async () => {
  await onConsole('vm1', 'i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done &', /tick-3\b/);
  assert.equal(d.lodge(['pause', 'vm1']).code, 0);
  await sleep(300);
  const before = consoleLog('vm1').length;
  await sleep(1500);
  assert.equal(consoleLog('vm1').length, before, 'nothing is printed while paused');
  assert.equal(d.lodge(['resume', 'vm1']).code, 0);
  await sleep(1500);
  assert.ok(consoleLog('vm1').length > before, 'the counter goes on after resume');
});

test('stop presses the ACPI power button and the guest shuts itself down', async () => {
  const stop = d.lodge(['stop', 'vm1', '--timeout', '60']);
  assert.equal(stop.code, 0, stop.stderr);
  const log = consoleLog('vm1');
  assert.match(log, /The system is going down NOW!/);
  assert.match(log, /reboot: Power down/);
  assert.equal((await d.client.guests.get('vm1')).state, 'stopped');
});

test('a hung guest is killed after the timeout', async () => {
  assert.equal(d.lodge(['start', 'vm1']).code, 0);
  await onConsole('vm1', 'echo up-$((2*3))', /up-6/);
  const pid = await guestPid(d, 'vm1');
  process.kill(pid, 'SIGSTOP');
  const t0 = Date.now();
  assert.equal(d.lodge(['stop', 'vm1', '--timeout', '2']).code, 0);
  assert.ok(Date.now() - t0 < 15_000, `killed soon after the timeout (${Date.now() - t0} ms)`);
  assert.ok(!existsSync(`/proc/${pid}`));
});

test('two vms of one image share its base disk and write only their overlays', async () => {
  assert.equal(d.lodge(['start', 'vm1']).code, 0);
  assert.equal(d.lodge(['launch', 'busybox', 'vm2', '--kind', 'vm']).code, 0);
  const base = (await d.client.images.get('busybox')).bases.find((b) => b.path.endsWith('.qcow2'))!.path;
  const baseHash = sha(base);
  for (const name of ['vm1', 'vm2']) await onConsole(name, `dd if=/dev/urandom of=/root/${name}.bin bs=1k count=512 2>/dev/null; sync; echo wrote-$((40+2))-${name}`, new RegExp(`wrote-42-${name}`));
  const disks = await Promise.all(['vm1', 'vm2'].map(async (n) => /file=([^,]+)/.exec((await argvOf(n)).find((a) => a.startsWith('file='))!)![1]!));
  assert.notEqual(disks[0], disks[1]);
  for (const disk of disks) {
    const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', disk]).toString()) as { 'backing-filename': string };
    assert.equal(info['backing-filename'], base, `${disk} is an overlay of the shared base`);
    assert.ok(statSync(disk).size > 512 * 1024, `${disk} holds what its guest wrote`);
  }
  assert.equal(sha(base), baseHash, 'the base is untouched');
  assert.equal(statSync(base).mode & 0o777, 0o444);
});

test('kill -9 of lodged: vms survive, are adopted, and their consoles work', async () => {
  const pids = [await guestPid(d, 'vm1'), await guestPid(d, 'vm2')];
  await d.kill9();
  for (const pid of pids) assert.ok(existsSync(`/proc/${pid}`));
  await d.start();
  assert.match(d.stderr, /vm1: adopted, running/);
  assert.match(d.stderr, /vm2: adopted, running/);
  assert.deepEqual([await guestPid(d, 'vm1'), await guestPid(d, 'vm2')], pids);
  await onConsole('vm1', 'echo back-$((4+4))', /back-8/);
  await onConsole('vm2', 'echo back-$((5+5))', /back-10/);
  assert.equal(d.lodge(['pause', 'vm2']).code, 0, 'QMP answers the new lodged');
  assert.equal(d.lodge(['resume', 'vm2']).code, 0);
  for (const name of ['vm1', 'vm2']) assert.equal(d.lodge(['delete', '--force', name]).code, 0);
});

test('bad input: 0 vCPUs, too little or too much memory, exec; a disk QEMU cannot open', async () => {
  assert.match(d.lodge(['launch', 'busybox', 'vmx', '--kind', 'vm', '--cpu', '0']).stderr, /--cpu: "0" is not a positive number of CPUs/);
  const zero = await fetchJson('POST', '/1.0/guests', { name: 'vmx', image: 'busybox', kind: 'vm', limits: { cpu: 0 } });
  assert.equal(zero.error.message, 'limits.cpu: must be > 0');
  assert.equal(d.lodge(['launch', 'busybox', 'vmx', '--kind', 'vm', '--memory', '64M']).stderr, "lodge: limits.memory: 64M is below the 96M a vm guest's kernel needs\n");
  assert.match(d.lodge(['launch', 'busybox', 'vmx', '--kind', 'vm', '--memory', '100T']).stderr, /limits\.memory: 100T is more than this host has/);
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
  assert.deepEqual(d.cgroups(), [], 'no cgroup is left');
  assert.equal(spawnSync('pgrep', ['-f', `qemu-system.*${d.stateDir}`]).status, 1, 'no QEMU is left');
});

async function fetchJson(method: string, url: string, body: unknown): Promise<{ error: { message: string } }> {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: d.socket, method, path: url, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve(JSON.parse(text)));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
