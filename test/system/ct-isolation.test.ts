/**
 * What a system container may see and be: its own processes, hostname and files; its
 * root is not the host's root. (Two guests sharing their image's base: conformance.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { guestPid, TestDaemon } from './harness.js';

const d = new TestDaemon();
before(async () => {
  await d.start();
  await d.buildBusybox();
  await d.launch('iso-a');
  await d.launch('iso-b');
});
after(() => d.cleanup());

const exec = async (name: string, script: string) => (await d.client.guests.exec(name, { command: ['sh', '-c', script] })).stdout.trim();

function hostUid(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'))!;
  return Number(line.split(/\s+/)[1]);
}

test('a guest sees only its own processes', async () => {
  const ps = await exec('iso-a', 'ps -o pid,args');
  const pids = ps.split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0]));
  assert.ok(pids.includes(1));
  assert.ok(pids.every((p) => p < 100), `only the guest's own small pids: ${pids.join(' ')}`);
  assert.ok(!ps.includes('node'), 'the host test runner is not visible');
  const count = Number(await exec('iso-a', 'ls -d /proc/[0-9]* | wc -l'));
  assert.ok(count < 10, `a handful of processes, not the host's (${count})`);
});

test('a guest has its own hostname and filesystem', async () => {
  assert.equal(await exec('iso-a', 'hostname'), 'iso-a');
  assert.equal(await exec('iso-b', 'hostname'), 'iso-b');
  await exec('iso-a', 'echo only-a > /root/mine');
  assert.equal(await exec('iso-b', 'cat /root/mine 2>/dev/null || echo absent'), 'absent');
  assert.equal(await exec('iso-a', 'test -e /work && echo host-visible || echo hidden'), 'hidden');
  assert.equal(await exec('iso-a', 'ls /dev | sort | tr "\\n" " "'), 'console fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero');
});

test('root in a guest is not root on the host', async () => {
  assert.equal(await exec('iso-a', 'id -u'), '0');
  const pid = await guestPid(d, 'iso-a');
  assert.equal(hostUid(pid), 1_000_000, 'the guest init runs as the mapped uid on the host');
  // and a guest's root cannot do what needs real root: load modules, set the clock
  assert.equal(await exec('iso-a', 'date -s 2001-01-01 >/dev/null 2>&1; date +%Y'), String(new Date().getFullYear()), 'setting the clock is refused');
  assert.equal(await exec('iso-a', 'mknod /tmp/sda b 8 0 2>/dev/null && echo made || echo refused'), 'refused', 'making a block device is refused');
  assert.equal(await exec('iso-a', 'cat /sys/fs/cgroup/../../../etc/shadow 2>/dev/null || echo refused'), 'refused');
});

test('a guest runs under a seccomp filter, with module loading and clock setting out of its capabilities', async () => {
  const status = await exec('iso-a', 'cat /proc/1/status');
  assert.match(status, /^Seccomp:\s+2$/m, 'init is under a seccomp filter');
  assert.match(status, /^NoNewPrivs:\s+0$/m, 'setuid programs still work in a system container');
  const bounding = BigInt(`0x${/^CapBnd:\s+([0-9a-f]+)$/m.exec(status)![1]}`);
  for (const [cap, bit] of [['CAP_SYS_MODULE', 16n], ['CAP_SYS_RAWIO', 17n], ['CAP_SYS_TIME', 25n], ['CAP_MAC_ADMIN', 33n]] as const) {
    assert.equal((bounding >> bit) & 1n, 0n, `${cap} is not in the bounding set`);
  }
  assert.equal((bounding >> 21n) & 1n, 1n, 'CAP_SYS_ADMIN (in its own user namespace) is');
});

test('a privileged guest runs as the host root, and says so', async () => {
  await d.launch('iso-priv', { options: { privileged: true } });
  assert.equal(hostUid(await guestPid(d, 'iso-priv')), 0);
  assert.match(d.lodge(['info', 'iso-priv']).stdout, /Privileged:\s+yes/);
  assert.match(d.lodge(['info', 'iso-a']).stdout, /Privileged:\s+no \(user namespace\)/);
  assert.match(d.lodge(['launch', '--help']).stdout.replace(/\s+/g, ' '), /--privileged ct: no user namespace, so root in the guest is root on the host/);
});
