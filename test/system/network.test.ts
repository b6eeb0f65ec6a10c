/**
 * Guest networks, inside a network namespace of the test's own (nothing leaves it): the
 * default network made on the first start; containers on one network reach each other by name over their veths and exchange TCP
 * data; a vm and a pv guest get their addresses by DHCP over taps; networks are isolated
 * from each other, spoofed sources are dropped, a port forward reaches a guest; fixed addresses; bad input refused with nothing half-made; deleting a guest or a
 * network removes its host side; after kill -9 of lodged, what the database no longer
 * knows is swept at the next start.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ensureVmKernel } from '../../src/images/vm-kernel.js';
import { builtImageTarball, consoleExpect, requireProgram, TestDaemon } from './harness.js';

const d = new TestDaemon({ netns: true });
before(async () => {
  requireProgram('dnsmasq', 'dnsmasq-base');
  requireProgram('nft', 'nftables');
  requireProgram('debootstrap', 'debootstrap');
  // lodged runs in a namespace with no way out: the vm kernel comes from Debian's mirror through the test's own network
  await ensureVmKernel('/var/cache/lodge/kernels', 'cloud-amd64');
  await d.start();
  await d.buildBusybox();
});
after(() => d.cleanup());

const links = () => d.inNetns(['ip', '-o', 'link', 'show']).stdout;
const exec = (name: string, ...command: string[]) => d.lodge(['exec', name, '--', ...command]);

test('the default network is made on the first start; a guest joins it unless told otherwise', async () => {
  const [dflt] = await d.client.networks.list();
  assert.equal(dflt?.name, 'default');
  assert.match(dflt!.subnet, /^10\.\d+\.\d+\.0\/24$/);
  assert.match(d.stderr, /created the network default: 10\.\d+\.\d+\.0\/24 on bridge lb-default/);
  assert.equal(d.lodge(['launch', 'busybox', 'plain']).code, 0);
  assert.equal((await d.client.guests.get('plain')).nics?.[0]?.network, 'default');
  assert.equal(d.lodge(['launch', 'busybox', 'alone', '--network', 'none']).code, 0);
  assert.equal((await d.client.guests.get('alone')).nics, undefined);
  assert.doesNotMatch(exec('alone', 'ip', '-o', 'link').stdout, /eth0/, 'loopback only');
  assert.equal(exec('alone', 'ping', '-c', '1', '-W', '2', 'plain').code, 1);
  for (const name of ['plain', 'alone']) assert.equal(d.lodge(['delete', '--force', name]).code, 0);
});

test('two containers on one network reach each other by name and exchange TCP data', async () => {
  const create = d.lodge(['network', 'create', 'n1', '--subnet', '10.50.0.0/24']);
  assert.equal(create.code, 0, create.stderr);
  assert.match(links(), /lb-n1: <[^>]*\bUP\b/, 'the bridge is up in the namespace');
  for (const name of ['c1', 'c2']) assert.equal(d.lodge(['launch', 'busybox', name, '--network', 'n1']).code, 0);
  const c1 = await d.client.guests.get('c1');
  assert.equal(c1.nics?.[0]?.address, '10.50.0.2/24');
  assert.match(exec('c1', 'ip', '-o', 'addr', 'show', 'eth0').stdout, /inet 10\.50\.0\.2\/24/);
  const ping = exec('c1', 'ping', '-c', '1', '-W', '5', 'c2');
  assert.equal(ping.code, 0, ping.stdout + ping.stderr);
  assert.match(ping.stdout, /PING c2 \(10\.50\.0\.3\)/, 'the name resolves through the network\'s dnsmasq');
  assert.match(exec('c2', 'nslookup', 'c1.lodge').stdout, /10\.50\.0\.2/);
  // a server in c2, a client in c1 sending across the bridge
  assert.match(exec('c2', 'sh', '-c', 'nc -l -p 5000 > /tmp/got 2>/dev/null < /dev/null & echo started').stdout, /started/);
  let sent = exec('c1', 'sh', '-c', 'echo hello-over-tcp | nc -w 2 c2 5000');
  for (let i = 0; i < 20 && sent.code !== 0; i++) sent = exec('c1', 'sh', '-c', 'sleep 0.2; echo hello-over-tcp | nc -w 2 c2 5000');
  assert.equal(sent.code, 0, sent.stderr);
  let got = '';
  for (let i = 0; i < 20 && !got.includes('hello'); i++) got = exec('c2', 'cat', '/tmp/got').stdout;
  assert.equal(got.trim(), 'hello-over-tcp');
  const net = await d.client.networks.get('n1');
  assert.deepEqual(net.guests, ['c1', 'c2']);
  assert.equal(net.gateway, '10.50.0.1');
});

test('a vm and a pv guest get their planned addresses by DHCP and reach a container by name', { timeout: 300_000 }, async () => {
  for (const [name, kind] of [['vmnet', 'vm'], ['pvnet', 'pv']] as const) {
    const launch = d.lodge(['launch', 'busybox', name, '--kind', kind, '--network', 'n1']);
    assert.equal(launch.code, 0, launch.stderr);
  }
  for (const name of ['vmnet', 'pvnet']) {
    const nic = (await d.client.guests.get(name)).nics![0]!;
    assert.match(links(), new RegExp(`${nic.hostDevice}: .*master lb-n1`), `${name}'s tap is on the bridge`);
    // the guest's own view: the address came from dnsmasq, and c1's name resolves
    await consoleExpect(d, name, 'echo up-$((1+1))\n', /up-2/, 120_000, 3000);
    const out = await consoleExpect(d, name, 'ip -o -4 addr show eth0; ping -c 1 -W 5 c1 && echo reached-$((40+2))\n', /reached-42/, 30_000);
    assert.match(out, new RegExp(`inet ${nic.address.replace(/\./g, '\\.')}`), `${name} has the planned address`);
  }
  const toVm = exec('c1', 'ping', '-c', '1', '-W', '5', 'vmnet');
  assert.equal(toVm.code, 0, `the container reaches the vm by name: ${toVm.stdout}${toVm.stderr}`);
  assert.equal(exec('c1', 'ping', '-c', '1', '-W', '5', 'pvnet').code, 0, 'and the pv guest');
  const taps = await Promise.all(['vmnet', 'pvnet'].map(async (n) => (await d.client.guests.get(n)).nics![0]!.hostDevice));
  for (const name of ['vmnet', 'pvnet']) assert.equal(d.lodge(['delete', '--force', name]).code, 0);
  for (const tap of taps) assert.doesNotMatch(links(), new RegExp(tap), 'the tap is gone with its guest');
});

test('a debian/12 pv guest takes its planned address from the kernel command line, and finds a container by name', { timeout: 600_000 }, async () => {
  // debootstrap needs the mirror, which the test's namespace cannot reach: built outside (once per test run), imported inside
  const tarball = await builtImageTarball('debian/12', d.dir);
  const imported = d.lodge(['image', 'import', tarball, 'debian12', '--init', '/sbin/init', '--stop-signal', 'SIGRTMIN+4']);
  assert.equal(imported.code, 0, imported.stderr);
  assert.equal(d.lodge(['launch', 'debian12', 'debnet', '--kind', 'pv', '--memory', '256M', '--network', 'n1']).code, 0);
  const planned = (await d.client.guests.get('debnet')).nics![0]!.address;
  let addr = '';
  for (let i = 0; i < 120 && !addr.includes(planned); i++) {
    await new Promise((r) => setTimeout(r, 500));
    addr = exec('debnet', 'ip', '-o', '-4', 'addr', 'show', 'eth0').stdout;
  }
  assert.match(addr, new RegExp(`inet ${planned.replace(/\./g, '\\.')}`));
  assert.match(exec('debnet', 'getent', 'hosts', 'c1').stdout, /^10\.50\.0\.2\s+c1/, "its resolver is the network's dnsmasq");
  assert.equal(exec('c1', 'ping', '-c', '1', '-W', '5', 'debnet').code, 0, 'the container reaches it by name');
  assert.equal(d.lodge(['delete', '--force', 'debnet']).code, 0);
});

test('a fixed address is kept; deleting a guest removes its veth and its name', async () => {
  assert.equal(d.lodge(['launch', 'busybox', 'c3', '--network', 'n1=10.50.0.77']).code, 0);
  const nic = (await d.client.guests.get('c3')).nics![0]!;
  assert.equal(nic.address, '10.50.0.77/24');
  assert.match(links(), new RegExp(`${nic.hostDevice}@`));
  assert.equal(exec('c1', 'ping', '-c', '1', '-W', '5', 'c3').code, 0);
  assert.equal(d.lodge(['delete', '--force', 'c3']).code, 0);
  assert.doesNotMatch(links(), new RegExp(nic.hostDevice), 'the veth is gone');
  assert.notEqual(exec('c1', 'nslookup', 'c3').code, 0, 'the name is gone from DNS');
});

test('bad input: a host address as subnet, overlaps, a name too long for an interface, unknown or taken addresses, deleting a network in use', async () => {
  const before = links();
  assert.equal(d.lodge(['network', 'create', 'n2', '--subnet', '10.60.0.5/24']).stderr, 'lodge: subnet: 10.60.0.5/24 is not a network address (did you mean 10.60.0.0/24?)\n');
  assert.equal(d.lodge(['network', 'create', 'n2', '--subnet', '10.50.0.128/25']).stderr, 'lodge: subnet: 10.50.0.128/25 overlaps network n1 (10.50.0.0/24)\n');
  assert.match(d.lodge(['network', 'create', 'n2', '--subnet', '127.0.0.0/16']).stderr, /subnet: 127\.0\.0\.0\/16 overlaps the host's route to 127\.0\.0\.0\/8/);
  assert.match(d.lodge(['network', 'create', 'averylongname1']).stderr, /name: "averylongname1" is 14 characters; a network's bridge is named lb-NAME and interface names hold 15, so at most 12/);
  assert.match(d.lodge(['launch', 'busybox', 'c4', '--network', 'nope']).stderr, /networks\[0\]: network nope not found/);
  assert.match(d.lodge(['launch', 'busybox', 'c4', '--network', 'n1=10.50.0.2']).stderr, /networks\[0\]\.address: 10\.50\.0\.2 is taken on network n1/);
  assert.match(d.lodge(['launch', 'busybox', 'c4', '--network', 'n1=10.50.0.1']).stderr, /networks\[0\]\.address: 10\.50\.0\.1 is not a guest address in 10\.50\.0\.0\/24/);
  assert.equal(d.lodge(['network', 'delete', 'n1']).stderr, 'lodge: cannot delete network n1: guests use it (c1, c2)\n');
  assert.deepEqual((await d.client.networks.list()).map((n) => n.name), ['default', 'n1'], 'nothing half-made');
  assert.deepEqual((await d.client.guests.list()).map((g) => g.name), ['c1', 'c2']);
  assert.equal(links(), before, 'no bridge or veth was left behind');
});

test('guests on two networks cannot reach each other, even where the host forwards', async () => {
  // only inside the test's namespace, which has no way out: forwarding moves packets between its own bridges
  assert.equal(d.inNetns(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']).code, 0);
  assert.equal(d.lodge(['network', 'create', 'n2', '--subnet', '10.51.0.0/24']).code, 0);
  assert.equal(d.lodge(['launch', 'busybox', 'c5', '--network', 'n2']).code, 0);
  assert.notEqual(exec('c1', 'ping', '-c', '1', '-W', '2', '10.51.0.2').code, 0, 'n1 does not reach n2');
  assert.notEqual(exec('c5', 'ping', '-c', '1', '-W', '2', '10.50.0.2').code, 0, 'nor n2 n1');
  // the control: without Lodge's rules the host routes between them, so the rules are what stops it
  assert.equal(d.inNetns(['nft', 'delete', 'table', 'inet', `lodge-${d.instance}`]).code, 0);
  assert.equal(exec('c1', 'ping', '-c', '1', '-W', '2', '10.51.0.2').code, 0, 'routed without the rules');
  assert.equal(d.lodge(['delete', '--force', 'c5']).code, 0, 'a change puts the rules back');
  assert.equal(d.lodge(['launch', 'busybox', 'c5', '--network', 'n2']).code, 0);
  assert.notEqual(exec('c1', 'ping', '-c', '1', '-W', '2', '10.51.0.2').code, 0, 'isolated again');
  assert.equal(d.lodge(['delete', '--force', 'c5']).code, 0);
  assert.equal(d.lodge(['network', 'delete', 'n2']).code, 0);
});

test('a guest cannot send with an address or a MAC that is not its own', async () => {
  assert.equal(exec('c1', 'ping', '-c', '1', '-W', '2', 'c2').code, 0);
  assert.equal(exec('c1', 'ip', 'addr', 'add', '10.50.0.99/24', 'dev', 'eth0').code, 0, 'root in the container may set it');
  assert.notEqual(exec('c1', 'ping', '-c', '1', '-W', '2', '-I', '10.50.0.99', 'c2').code, 0, 'a spoofed source is dropped at the bridge');
  assert.equal(exec('c1', 'ip', 'addr', 'del', '10.50.0.99/24', 'dev', 'eth0').code, 0);
  const mac = exec('c1', 'cat', '/sys/class/net/eth0/address').stdout.trim();
  assert.equal(exec('c1', 'ip', 'link', 'set', 'eth0', 'address', '02:11:22:33:44:55').code, 0);
  assert.notEqual(exec('c1', 'ping', '-c', '1', '-W', '2', 'c2').code, 0, 'a spoofed MAC is dropped');
  assert.equal(exec('c1', 'ip', 'link', 'set', 'eth0', 'address', mac).code, 0);
  assert.equal(exec('c1', 'ping', '-c', '1', '-W', '5', 'c2').code, 0, 'its own addresses work again');
});

test('a port forward from the host side reaches a server in a guest, and goes with the guest', async () => {
  assert.equal(d.lodge(['launch', 'busybox', 'web', '--network', 'n1']).code, 0);
  assert.equal(exec('web', 'sh', '-c', 'mkdir -p /www && echo served-by-web > /www/index.html && httpd -p 80 -h /www').code, 0);
  const add = d.lodge(['forward', 'add', 'web', '8080', '80']);
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stderr, /tcp port 8080 goes to web \(10\.50\.0\.\d+:80\)/);
  assert.match(d.lodge(['forward', 'list', 'web']).stdout, /tcp\s+8080\s+web \(10\.50\.0\.\d+\)\s+80/);
  assert.match(d.lodge(['forward', 'list']).stdout, /tcp\s+8080\s+web \(10\.50\.0\.\d+\)\s+80\s+n1/, "without a guest, every guest's forwards, with their network");
  // the namespace's own address on the bridge: a host address, so the forward applies
  const got = d.inNetns(['curl', '-s', '--max-time', '5', 'http://10.50.0.1:8080/']);
  assert.equal(got.stdout.trim(), 'served-by-web', got.stderr);
  assert.match(d.lodge(['forward', 'add', 'c1', '8080', '80']).stderr, /hostPort: tcp port 8080 is forwarded to web already/);
  // loopback is not forwarded: a connection there is refused at once rather than hanging
  const local = d.inNetns(['curl', '-s', '--max-time', '5', '-o', '/dev/null', '-w', '%{exitcode}', 'http://127.0.0.1:8080/']);
  assert.equal(local.stdout, '7', `curl to localhost: connection refused (exit 7), not a timeout (28): ${local.stderr}`);
  // a port that a host service listens on stays the service's, whichever address it listens on
  const listener = spawn('ip', ['netns', 'exec', d.netns!, 'busybox', 'nc', '-l', '-p', '2024'], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 50 && !d.inNetns(['ss', '-Hltn', 'sport = :2024']).stdout.trim(); i++) await sleep(100);
    const taken = d.lodge(['forward', 'add', 'web', '2024', '22']);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, /hostPort: busybox \(pid \d+\) listens on tcp port 2024 of the host; a forward would take its connections away/);
    assert.equal(d.lodge(['forward', 'add', 'web', '2024', '22', '--proto', 'udp']).code, 0, 'the same port in udp is free');
  } finally {
    listener.kill('SIGKILL');
  }
  // dnsmasq answers DNS on port 53 of the bridge's address
  assert.match(d.lodge(['forward', 'add', 'web', '53', '53', '--proto', 'udp', '--force']).stderr, /hostPort: dnsmasq \(pid \d+\) listens on udp port 53 of the host/);
  assert.match(d.lodge(['forward', 'add', 'web', '80', '80']).stderr, /hostPort: 80 is a privileged port, as the host's own services use; forward it only on purpose \(--force\)/);
  assert.equal(d.lodge(['forward', 'add', 'web', '80', '80', '--force']).code, 0);
  assert.equal(d.lodge(['delete', '--force', 'web']).code, 0);
  assert.doesNotMatch(d.inNetns(['nft', 'list', 'table', 'inet', `lodge-${d.instance}`]).stdout, /dport 8080/, 'the forward went with its guest');
});

test('kill -9 of lodged: a guest and a network gone from the database leave no veth, name or bridge after the next start', async () => {
  assert.equal(d.lodge(['network', 'create', 'n3']).code, 0);
  const n3 = await d.client.networks.get('n3');
  assert.match(n3.subnet, /^10\.\d+\.\d+\.0\/24$/, 'a free /24 was chosen');
  const veth = (await d.client.guests.get('c2')).nics![0]!.hostDevice;
  await d.kill9();
  const db = new Database(path.join(d.stateDir, 'lodge.db'));
  db.pragma('foreign_keys = ON');
  db.prepare('DELETE FROM guests WHERE name = ?').run('c2');
  db.prepare('DELETE FROM networks WHERE name = ?').run('n3');
  db.close();
  await d.start();
  assert.match(d.stderr, new RegExp(`removing ${veth}: its guest is gone`));
  assert.match(d.stderr, /removing bridge lb-n3: no such network/);
  assert.doesNotMatch(links(), new RegExp(`${veth}|lb-n3`));
  assert.notEqual(exec('c1', 'nslookup', 'c2').code, 0, 'c2 is gone from DNS');
  const still = exec('c1', 'ping', '-c', '1', '-W', '5', 'c1');
  assert.equal(still.code, 0, `the rest of the network still works: ${still.stdout}${still.stderr}\n${d.inNetns(['ss', '-lunp']).stdout}\n${d.stderr}\n${exec('c1', 'cat', '/etc/resolv.conf').stdout}`);
});

test('deleting a network removes its bridge and its dnsmasq', async () => {
  assert.equal(d.lodge(['delete', '--force', 'c1']).code, 0);
  assert.equal(d.lodge(['network', 'delete', 'n1']).code, 0);
  assert.doesNotMatch(links(), /lb-n1/);
  assert.equal(spawnSync('pgrep', ['-f', `${d.stateDir}/networks/n1/`]).status, 1, 'no dnsmasq is left');
  assert.deepEqual((await d.client.networks.list()).map((n) => n.name), ['default']);
});
