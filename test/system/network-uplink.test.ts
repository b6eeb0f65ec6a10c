/**
 * NAT towards the uplink, between two network namespaces of the test's own: lodged runs
 * in one (the host), whose only route out is a veth to the other (the outside: one TCP
 * server that answers with the address it sees, one DNS server). Nothing leaves them.
 * With --uplink a NAT network's guest reaches the outside masqueraded and resolves outside
 * names; an isolated network's guest reaches neither, nor another network; without
 * --uplink the NAT network stays inside the host too.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { requireProgram, TestDaemon } from './harness.js';

const outsideNs = `lodge-o-${process.pid}`;
const outsideAddress = '198.51.100.1';
const uplinkAddress = '198.51.100.2';
const filesDir = mkdtempSync('/tmp/lodge-uplink-');
chmodSync(filesDir, 0o755); // dnsmasq reads it as nobody
const resolvConf = path.join(filesDir, 'resolv.conf');
writeFileSync(resolvConf, `nameserver ${outsideAddress}\n`);

const d = new TestDaemon({ netns: true, args: ['--uplink', '--resolv-conf', resolvConf] });
const outside: ChildProcess[] = [];
let seenByServer = '';

const inOutside = (argv: string[]) => spawn('ip', ['netns', 'exec', outsideNs, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });

before(async () => {
  requireProgram('dnsmasq', 'dnsmasq-base');
  requireProgram('nft', 'nftables');
  execFileSync('ip', ['netns', 'add', outsideNs]);
  const ns = d.netns!;
  execFileSync('ip', ['-n', ns, 'link', 'add', 'uplink0', 'type', 'veth', 'peer', 'name', 'wan0', 'netns', outsideNs]);
  execFileSync('ip', ['-n', ns, 'addr', 'add', `${uplinkAddress}/24`, 'dev', 'uplink0']);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'uplink0', 'up']);
  execFileSync('ip', ['-n', ns, 'route', 'add', 'default', 'via', outsideAddress]);
  execFileSync('ip', ['-n', outsideNs, 'addr', 'add', `${outsideAddress}/24`, 'dev', 'wan0']);
  for (const dev of ['lo', 'wan0']) execFileSync('ip', ['-n', outsideNs, 'link', 'set', dev, 'up']);
  // the outside's server: it answers every connection with the source address it sees, and logs it
  const server = inOutside([process.execPath, '-e', `require('net').createServer((s) => { console.log(s.remoteAddress); s.end(s.remoteAddress + '\\n'); }).listen(8000, '${outsideAddress}', () => console.log('listening'))`]);
  server.stdout!.on('data', (b: Buffer) => (seenByServer += b.toString()));
  const dns = inOutside(['dnsmasq', '--keep-in-foreground', '--no-resolv', '--no-hosts', '--bind-interfaces', `--listen-address=${outsideAddress}`, `--address=/upstream.example/${outsideAddress}`, '--pid-file=']);
  outside.push(server, dns);
  for (let i = 0; i < 100 && !seenByServer.includes('listening'); i++) await new Promise((r) => setTimeout(r, 50));
  await d.start();
  await d.buildBusybox();
});

after(async () => {
  await d.cleanup();
  for (const p of outside) p.kill('SIGKILL');
  for (const pid of spawnSync('ip', ['netns', 'pids', outsideNs], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) spawnSync('kill', ['-9', pid]);
  spawnSync('ip', ['netns', 'del', outsideNs]);
  rmSync(filesDir, { recursive: true, force: true });
});

const exec = (name: string, ...command: string[]) => d.lodge(['exec', name, '--', ...command]);

/** Asks the outside's server from a guest: the address it saw, or '' when nothing got through. */
function askOutside(guest: string, tries: number): string {
  for (let i = 0; i < tries; i++) {
    const r = exec(guest, 'nc', '-w', '2', outsideAddress, '8000');
    if (r.code === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return '';
}

test('a guest of a NAT network reaches the uplink masqueraded as the host, and resolves outside names', async () => {
  assert.match(d.stderr, /turned IPv4 forwarding on/);
  assert.equal(d.inNetns(['cat', '/proc/sys/net/ipv4/ip_forward']).stdout.trim(), '1');
  const info = d.lodge(['network', 'info', 'default']);
  assert.match(info.stdout, /Outside: +NAT: its guests reach the host's uplink, masqueraded/);
  assert.equal((await d.client.networks.get('default')).uplink, true);
  assert.equal(d.lodge(['launch', 'busybox', 'natted']).code, 0);
  assert.equal(askOutside('natted', 10), uplinkAddress, 'the server sees the host\'s uplink address, not the guest\'s');
  const lookup = exec('natted', 'nslookup', 'upstream.example');
  assert.match(lookup.stdout, new RegExp(`Address:? *1?:? *${outsideAddress.replace(/\./g, '\\.')}`), lookup.stdout + lookup.stderr);
  assert.match(exec('natted', 'nslookup', 'natted.lodge').stdout, /10\.\d+\.\d+\.2/, 'guest names are still answered by the network itself');
});

test('an isolated network reaches neither the uplink nor outside names, and no two networks route to each other', async () => {
  const create = d.lodge(['network', 'create', 'iso', '--isolated']);
  assert.equal(create.code, 0, create.stderr);
  assert.match(create.stderr, /isolated: its guests reach the host and each other only/);
  assert.match(d.lodge(['network', 'list']).stdout, /^iso +10\.\S+ +10\.\S+ +lb-iso +isolated +0$/m);
  assert.equal(d.lodge(['launch', 'busybox', 'inside', '--network', 'iso']).code, 0);
  const iso = await d.client.networks.get('iso');
  assert.equal(exec('inside', 'ping', '-c', '1', '-W', '5', iso.gateway).code, 0, 'the control: the host is reached');
  const before = seenByServer;
  assert.equal(askOutside('inside', 2), '');
  assert.equal(seenByServer, before, 'nothing reached the server');
  assert.notEqual(exec('inside', 'nslookup', 'upstream.example').code, 0);
  const natted = (await d.client.guests.get('natted')).nics![0]!.address.split('/')[0]!;
  const inside = (await d.client.guests.get('inside')).nics![0]!.address.split('/')[0]!;
  assert.equal(exec('inside', 'ping', '-c', '1', '-W', '2', natted).code, 1, 'isolated → NAT network');
  assert.equal(exec('natted', 'ping', '-c', '1', '-W', '2', inside).code, 1, 'NAT network → another Lodge network');
});

test('without --uplink a NAT network stays inside the host, whatever the host forwards', async () => {
  await d.stop();
  d.args.length = 0;
  await d.start();
  assert.equal((await d.client.networks.get('default')).uplink, false);
  assert.match(d.lodge(['network', 'info', 'default']).stdout, /NAT, but lodged runs without --uplink/);
  assert.equal(d.inNetns(['cat', '/proc/sys/net/ipv4/ip_forward']).stdout.trim(), '1', 'the namespace still forwards: the rules alone hold it');
  const before = seenByServer;
  assert.equal(askOutside('natted', 2), '');
  assert.equal(seenByServer, before);
  assert.notEqual(exec('natted', 'nslookup', 'upstream.example').code, 0, 'dnsmasq no longer forwards');
  assert.equal(exec('natted', 'ping', '-c', '1', '-W', '5', (await d.client.networks.get('default')).gateway).code, 0);
});
