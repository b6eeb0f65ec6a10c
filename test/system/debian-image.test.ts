/**
 * The debian/12 image: built with debootstrap, it boots systemd as PID 1 to a running
 * system, as a container (its cgroup delegated, its console reopened after systemd's
 * hangup), as a paravirtual guest (under User-Mode Linux, exec through lodge-agent) and
 * as a virtual machine (QEMU, its root disk made from the rootfs with mkfs.ext4 -d, exec
 * through Debian's qemu-guest-agent); it takes the guest's name and powers off when asked
 * instead of being killed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { consoleExpect, keepBuiltImage, requireProgram, TestDaemon } from './harness.js';

const d = new TestDaemon();
before(async () => {
  requireProgram('debootstrap', 'debootstrap');
  requireProgram('linux.uml', 'user-mode-linux');
  requireProgram('qemu-system-x86_64', 'qemu-system-x86');
  await d.start();
});
after(() => d.cleanup());

const run = async (name: string, ...command: string[]) => (await d.client.guests.exec(name, { command })).stdout.trim();

/** Waits until systemd in the guest says how the boot went (exec works once the guest is up). */
async function systemState(name: string): Promise<string> {
  let state = '';
  for (let i = 0; i < 120 && !['running', 'degraded'].includes(state); i++) {
    await sleep(500);
    state = (await d.client.guests.exec(name, { command: ['systemctl', 'is-system-running'] }).catch(() => ({ stdout: '' }))).stdout.trim();
  }
  return state;
}

/** A file pushed and pulled back through the guest's own tools (dash, coreutils) and agent: every byte value, mode and owner. */
async function filesCross(name: string): Promise<void> {
  const bytes = Buffer.from(Array.from({ length: 200 * 1024 }, (_, i) => i % 256));
  const pushed = await d.client.guests.pushFile(name, { path: '/opt/lodge/blob', mode: '0600', uid: 1000, gid: 1000, parents: true }, Readable.from([bytes]));
  assert.deepEqual(pushed, { path: '/opt/lodge/blob', mode: '0600', uid: 1000, gid: 1000, sizeBytes: bytes.length });
  assert.equal(await run(name, 'stat', '-c', '%a %u %g', '/opt/lodge', '/opt/lodge/blob'), '755 0 0\n600 1000 1000');
  const chunks: Buffer[] = [];
  const pulled = await d.client.guests.pullFile(name, '/opt/lodge/blob', new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c), done()) }));
  assert.deepEqual(pulled, pushed);
  assert.ok(Buffer.concat(chunks).equals(bytes), `${name}: the bytes came back unchanged`);
  await assert.rejects(d.client.guests.pullFile(name, '/opt', new Writable()), (e: Error) => e.message === `cannot pull /opt from ${name}: /opt is a directory`);
}

async function consoleShows(name: string, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  let log = '';
  for (let i = 0; i < timeoutMs / 250 && !pattern.test(log); i++) {
    await sleep(250);
    log = d.lodge(['console', name, '--log']).stdout;
  }
  return log;
}

test('debian/12 builds, and boots systemd to a running system', { timeout: 1_200_000 }, async () => {
  // debootstrap's time is the package mirror's and the machine's: a cold cache on a busy machine takes many minutes
  await d.done(await d.client.images.build({ name: 'debian/12' }), 840);
  keepBuiltImage(d, 'debian/12');
  assert.match(d.lodge(['image', 'list']).stdout, /^debian\/12\s+rootfs\s+\d+(\.\d)?M\s+\/sbin\/init\s+built with debootstrap/m);
  await d.launch('deb-a', { image: 'debian/12', limits: { memory: '512M' } });
  await d.launch('deb-b', { image: 'debian/12', limits: { memory: '512M' } });
  const state = await systemState('deb-a');
  assert.equal(state, 'running', `systemd reached ${state}: ${await run('deb-a', 'systemctl', '--failed', '--no-legend')}`);
  assert.equal(await run('deb-a', 'cat', '/proc/1/comm'), 'systemd');
  assert.equal(await run('deb-a', 'hostname'), 'deb-a');
  assert.notEqual(await run('deb-a', 'cat', '/etc/machine-id'), await run('deb-b', 'cat', '/etc/machine-id'), 'each guest has its own machine id');
  assert.equal(await run('deb-a', 'id', '-u'), '0');
  // what a Debian user expects in a minimal system, and no empty root password: locked, root logged in on the console alone
  assert.deepEqual((await run('deb-a', 'sh', '-c', 'for c in ip ping ps top less nano dhclient; do command -v $c >/dev/null && echo $c; done')).split('\n'), ['ip', 'ping', 'ps', 'top', 'less', 'nano', 'dhclient']);
  assert.match(await run('deb-a', 'getent', 'hosts', 'localhost'), /^(127\.0\.0\.1|::1)\s+localhost/);
  assert.match(await run('deb-a', 'passwd', '-S', 'root'), /^root L /);
  // the console came back after systemd's hangup: root is logged in on it
  assert.match(await consoleShows('deb-a', /deb-a login: root \(automatic login\)/), /deb-a login: root \(automatic login\)/);
});

test('stop powers systemd off cleanly, well before the timeout', async () => {
  const t0 = Date.now();
  const stop = d.lodge(['stop', 'deb-a', '--timeout', '60']);
  assert.equal(stop.code, 0, stop.stderr);
  assert.ok(Date.now() - t0 < 30_000, `it took ${Date.now() - t0} ms: the stop signal was not acted on`);
  assert.match(d.lodge(['console', 'deb-a', '--log']).stdout, /Powering off\./);
  assert.equal((await d.client.guests.get('deb-a')).state, 'stopped');
});

test('the same image boots systemd as a pv guest under User-Mode Linux, and powers off when asked', { timeout: 300_000 }, async () => {
  await d.launch('deb-pv', { image: 'debian/12', kind: 'pv', limits: { memory: '256M' } });
  const state = await systemState('deb-pv');
  assert.equal(state, 'running', `systemd reached ${state}: ${await run('deb-pv', 'systemctl', '--failed', '--no-legend')}`);
  assert.equal(await run('deb-pv', 'hostname'), 'deb-pv');
  assert.equal(await run('deb-pv', 'uname', '-r'), /(\d+\.\d+\.\d+)/.exec(spawnSync('linux.uml', ['--version']).stdout.toString())![1]);
  assert.match(await consoleShows('deb-pv', /deb-pv login:/), /deb-pv login:/);
  assert.doesNotMatch(d.lodge(['console', 'deb-pv', '--log']).stdout, /epollctl add err/, 'no getty on the null lines');
  await filesCross('deb-pv');
  const t0 = Date.now();
  assert.equal(d.lodge(['stop', 'deb-pv', '--timeout', '60']).code, 0);
  assert.ok(Date.now() - t0 < 30_000, `it took ${Date.now() - t0} ms: Ctrl-Alt-Del did not power it off`);
  assert.match(d.lodge(['console', 'deb-pv', '--log']).stdout, /reboot: System halted/);
});

test('the same image boots systemd as a vm under QEMU, to a login on its serial console, and the power button stops it', { timeout: 300_000 }, async () => {
  await d.launch('deb-vm', { image: 'debian/12', kind: 'vm', limits: { memory: '512M' } });
  assert.match(await consoleShows('deb-vm', /deb-vm login:/, 120_000), /deb-vm login:/);
  await consoleExpect(d, 'deb-vm', 'root\n', /root@deb-vm:~# /, 30_000);
  let state = '';
  // the answer alone on its line (bash wraps it in bracketed-paste escapes), not the echoed command
  const answer = (words: string) => new RegExp(`[\\r\\n](${words})\\r`);
  for (let i = 0; i < 60 && !answer('running|degraded').test(state); i++) {
    state = await consoleExpect(d, 'deb-vm', 'systemctl is-system-running\n', answer('running|degraded|starting|initializing'), 30_000);
    await sleep(1000);
  }
  assert.match(state, answer('running'), 'systemd reached running, with no failed unit');
  // lodge exec goes through Debian's own qemu-guest-agent, as it would in a user's image
  const viaAgent = await d.client.guests.exec('deb-vm', { command: ['sh', '-c', 'cat /proc/$PPID/comm; cat; echo "$X" >&2; exit 4'], stdin: 'in\n', env: { X: 'y z' } });
  assert.deepEqual(viaAgent, { exitCode: 4, stdout: 'qemu-ga\nin\n', stderr: 'y z\n' });
  assert.equal(await run('deb-vm', 'systemctl', 'is-active', 'qemu-guest-agent'), 'active');
  assert.equal((await d.client.guests.exec('deb-vm', { command: ['pwd'], cwd: '/etc' })).stdout, '/etc\n');
  assert.deepEqual(await d.client.guests.exec('deb-vm', { command: ['no-such-command'] }), { exitCode: 127, stdout: '', stderr: 'lodge: no-such-command: command not found in deb-vm\n' });
  // lodge exec (and -t) through lodge-execd, on its own port
  const t = d.lodge(['exec', '-t', 'deb-vm', '--', 'sh', '-c', 'tty; cat /proc/$PPID/comm']);
  assert.match(t.stdout, /^\/dev\/pts\/\d+\r?\nlodge-execd\r?\n$/, t.stderr);
  // files through its guest-file-* commands
  await filesCross('deb-vm');
  const t0 = Date.now();
  assert.equal(d.lodge(['stop', 'deb-vm', '--timeout', '60']).code, 0);
  assert.ok(Date.now() - t0 < 30_000, `it took ${Date.now() - t0} ms: the ACPI power button did not power it off`);
  assert.match(d.lodge(['console', 'deb-vm', '--log']).stdout, /reboot: Power down/);
});

test('debian/12-cloud runs the user data given at launch through cloud-init (NoCloud seed), as a vm; other kinds refuse user data', { timeout: 900_000 }, async () => {
  await d.done(await d.client.images.build({ name: 'debian/12-cloud' }), 840);
  await assert.rejects(d.client.guests.launch({ name: 'ud-ct', image: 'debian/12-cloud', options: { userData: '#cloud-config\n' } }), /options\.userData: applies to vm guests only, not ct/);
  const file = path.join(d.dir, 'cloud.yaml');
  writeFileSync(file, '#cloud-config\nwrite_files:\n  - path: /root/from-lodge\n    content: hello from user data\nruncmd:\n  - [ sh, -c, "hostname > /root/hostname-seen" ]\n');
  const launched = d.lodge(['launch', 'debian/12-cloud', 'deb-cloud', '--kind', 'vm', '--memory', '512M', '--user-data', file]);
  assert.equal(launched.code, 0, launched.stderr);
  await systemState('deb-cloud');
  let status = '';
  for (let i = 0; i < 180 && !/status: (done|error)/.test(status); i++) {
    await sleep(1000);
    status = (await d.client.guests.exec('deb-cloud', { command: ['cloud-init', 'status'] }).catch(() => ({ stdout: '' }))).stdout;
  }
  assert.match(status, /status: done/, `cloud-init: ${await run('deb-cloud', 'cloud-init', 'status', '--long').catch((e: Error) => e.message)}`);
  assert.equal(await run('deb-cloud', 'cat', '/root/from-lodge'), 'hello from user data');
  assert.equal(await run('deb-cloud', 'cat', '/root/hostname-seen'), 'deb-cloud');
  const missing = d.lodge(['launch', 'debian/12-cloud', 'deb-cloud2', '--kind', 'vm', '--user-data', path.join(d.dir, 'nosuch.yaml')]);
  assert.deepEqual([missing.code, missing.stderr.trim()], [1, `lodge: --user-data: cannot read ${path.join(d.dir, 'nosuch.yaml')}: no such file`]);
  await d.done(await d.client.guests.delete('deb-cloud', true));
});
