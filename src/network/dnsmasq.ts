/**
 * @module One dnsmasq per network (Debian's dnsmasq-base): DHCP for guests that ask
 * (vm, pv) with a fixed address per MAC, and DNS for guest names under .lodge. Other
 * names it forwards upstream only for a network that reaches the uplink; it never reads
 * /etc/hosts and listens only on its bridge. It runs
 * as its own daemon, so it outlives lodged like the guests do; a SIGHUP re-reads the
 * host lists after a guest comes or goes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkPidFile, checkProcess, isAlive, parseIdentity, readIdentity, readRecord, writeRecord } from '../host/processes.js';
import { run } from '../lib/exec.js';

export interface DnsmasqNetwork {
  bridge: string;
  gateway: string;
  firstAddress: string;
  lastAddress: string;
  netmask: string;
  /** Where its config, host lists, leases and pidfile live. */
  dir: string;
  /** A resolv.conf naming the servers for names outside .lodge; without it, only guest names resolve. */
  upstream?: string;
}

export interface DnsmasqHost {
  name: string;
  mac: string;
  address: string;
}

export const dnsDomain = 'lodge';

const files = (dir: string) => ({
  conf: path.join(dir, 'dnsmasq.conf'),
  dhcpHosts: path.join(dir, 'dhcp-hosts'),
  hosts: path.join(dir, 'hosts'),
  leases: path.join(dir, 'leases'),
  pid: path.join(dir, 'dnsmasq.pid'),
  /** Its identity (host/processes.ts), recorded by lodged once it runs. */
  identity: path.join(dir, 'dnsmasq.identity'),
});

/** Pure: the configuration of one network's dnsmasq. */
export function dnsmasqConfig(n: DnsmasqNetwork): string {
  const f = files(n.dir);
  return [
    `interface=${n.bridge}`,
    'bind-interfaces',
    'except-interface=lo',
    // guest names it answers itself; others go upstream only where the network reaches the uplink
    ...(n.upstream ? [`resolv-file=${n.upstream}`] : ['no-resolv']),
    'no-hosts',
    'no-poll',
    `domain=${dnsDomain}`,
    `local=/${dnsDomain}/`,
    'expand-hosts',
    `addn-hosts=${f.hosts}`,
    `dhcp-range=${n.firstAddress},${n.lastAddress},${n.netmask},1h`,
    `dhcp-hostsfile=${f.dhcpHosts}`,
    `dhcp-option=option:router,${n.gateway}`,
    `dhcp-option=option:dns-server,${n.gateway}`,
    `dhcp-leasefile=${f.leases}`,
    'dhcp-authoritative',
    `pid-file=${f.pid}`,
    'user=nobody',
    '',
  ].join('\n');
}

/**
 * The pid of this network's dnsmasq, only while it is the process recorded: after a
 * reboot, or once dnsmasq ended, its pid file may name any process, which must never be
 * signalled. A pid file without an identity beside it (an older Lodge's) is trusted only
 * for a dnsmasq running this network's configuration.
 */
function pidOf(dir: string): number | undefined {
  const f = files(dir);
  const recorded = parseIdentity(readRecord(f.identity));
  if (recorded) return checkProcess(recorded).pid;
  const pid = checkPidFile(f.pid).pid;
  const identity = pid === undefined ? undefined : readIdentity(pid);
  if (!identity || !runsConfig(identity.pid, f.conf)) return undefined;
  writeRecord(f.identity, identity);
  return identity.pid;
}

function runsConfig(pid: number, conf: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(`--conf-file=${conf}`);
  } catch {
    return false;
  }
}

/** Records the identity of the dnsmasq that just started (it wrote its pid file before its parent returned). */
async function recordIdentity(dir: string): Promise<void> {
  const f = files(dir);
  const pid = Number((await readFile(f.pid, 'utf8').catch(() => '')).trim());
  const identity = readIdentity(pid);
  if (!identity) throw new Error(`dnsmasq for ${dir} wrote no live pid to ${f.pid}`);
  writeRecord(f.identity, identity);
}

async function writeAtomic(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

/** Writes the host lists and makes sure dnsmasq runs with them (started, or told to re-read). */
export async function syncDnsmasq(n: DnsmasqNetwork, hosts: readonly DnsmasqHost[]): Promise<void> {
  const f = files(n.dir);
  await mkdir(n.dir, { recursive: true });
  await writeAtomic(f.hosts, hosts.map((h) => `${h.address} ${h.name}\n`).join(''));
  await writeAtomic(f.dhcpHosts, hosts.map((h) => `${h.mac},${h.address},${h.name}\n`).join(''));
  const conf = dnsmasqConfig(n);
  const pid = pidOf(n.dir);
  if (pid && (await readFile(f.conf, 'utf8').catch(() => '')) === conf) {
    process.kill(pid, 'SIGHUP');
    return;
  }
  if (pid) await stopDnsmasq(n.dir);
  await writeAtomic(f.conf, conf);
  if (!existsSync(f.leases)) await writeFile(f.leases, '');
  await rm(f.identity, { force: true });
  await run(['dnsmasq', `--conf-file=${f.conf}`]);
  await recordIdentity(n.dir);
}

export async function stopDnsmasq(dir: string): Promise<void> {
  const pid = pidOf(dir);
  if (!pid) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 20));
}
