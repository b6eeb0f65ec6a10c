/**
 * @module Network devices on the host, through iproute2 (`ip`): bridges, veth pairs,
 * moving a device into a guest's network namespace and configuring it there, and the
 * routes the host already has. Every call is one argv; nothing goes through a shell.
 */
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { run } from '../lib/exec.js';

const ip = (...args: string[]) => run(['ip', ...args]);

export async function linkExists(name: string): Promise<boolean> {
  return (await run(['ip', 'link', 'show', 'dev', name], { allowFailure: true })).code === 0;
}

/** Names of the host's links that start with `prefix` (and, if given, carry the alias `alias`). */
export async function linksWithPrefix(prefix: string, alias?: string): Promise<string[]> {
  const { stdout } = await ip('-o', 'link', 'show');
  return stdout
    .split('\n')
    .map((line) => ({ name: /^\d+: ([^:@]+)[:@]/.exec(line)?.[1], alias: /\\\s+alias (\S+)/.exec(line)?.[1] }))
    .filter((l): l is { name: string; alias: string | undefined } => !!l.name?.startsWith(prefix) && (alias === undefined || l.alias === alias))
    .map((l) => l.name);
}

/**
 * A bridge with its own fixed MAC: left to itself a bridge takes the lowest MAC of its
 * ports, so a guest leaving would change the gateway's MAC under the others' ARP caches.
 * Its alias says whose it is, so that one daemon's sweep never takes another's bridge.
 */
export async function createBridge(name: string, addressCidr: string, mac: string, alias: string): Promise<void> {
  const owner = await linkOwner(name);
  if (owner === undefined) await ip('link', 'add', name, 'address', mac, 'type', 'bridge');
  else if (owner !== alias) throw new Error(`${name} exists on the host and is not this lodged's (${owner ? `its alias is ${owner}` : 'it has no alias'})`);
  await ip('link', 'set', name, 'address', mac, 'alias', alias);
  await run(['ip', 'addr', 'replace', addressCidr, 'dev', name]);
  await ip('link', 'set', name, 'up');
}

/** Whose a link is, by its alias: undefined when there is no such link, '' when it has no alias. */
export async function linkOwner(name: string): Promise<string | undefined> {
  const r = await run(['ip', '-o', 'link', 'show', 'dev', name], { allowFailure: true });
  if (r.code !== 0) return undefined;
  return /\\\s+alias (\S+)/.exec(r.stdout)?.[1] ?? '';
}

/** Puts host devices on their bridges, in one ip run; one already there is left as it is. */
export async function setMasters(ports: ReadonlyArray<{ device: string; bridge: string }>): Promise<void> {
  if (ports.length === 0) return;
  await run(['ip', '-force', '-batch', '-'], { input: ports.map((p) => `link set dev ${p.device} master ${p.bridge}\n`).join('') });
}

export async function deleteLink(name: string): Promise<void> {
  if (await linkExists(name)) await run(['ip', 'link', 'del', name], { allowFailure: true });
}

/**
 * A veth pair in one call: `host` on `bridge` and up; its peer made right inside the
 * network namespace of process `pid`, already named `peer` and with `mac`.
 */
export async function createVethInto(host: string, peer: string, mac: string, bridge: string, pid: number): Promise<void> {
  const add = ['link', 'add', host, 'master', bridge, 'up', 'type', 'veth', 'peer', 'name', peer, 'address', mac, 'netns', String(pid)];
  const first = await run(['ip', ...add], { allowFailure: true });
  if (first.code === 0) return;
  if (!/exists/i.test(first.stderr)) throw new Error(`ip ${add.join(' ')}: ${first.stderr.trim()}`);
  // a host end left by a guest whose state was lost: it goes, and the pair is made again
  await run(['ip', 'link', 'del', host], { allowFailure: true });
  await ip(...add);
}

/**
 * Makes /dev/net/tun 0666, Debian's own default (its udev rule), where the host has left it
 * 0600: an engine running as its own uid must open the tap made for it. Making a tap still
 * needs CAP_NET_ADMIN, and a tap owned by one uid cannot be opened by another.
 * Returns what it changed, for the log.
 */
export async function openTunDevice(): Promise<string | undefined> {
  const mode = (await stat('/dev/net/tun')).mode & 0o777;
  if (mode === 0o666) return undefined;
  await chmod('/dev/net/tun', 0o666);
  return `/dev/net/tun was ${mode.toString(8)}, made 666 (Debian's default) so that QEMU and UML, each as its guest's uid, can open their taps`;
}

/**
 * Turns IPv4 forwarding on in lodged's network namespace (the host's, or a test's own),
 * which NAT networks need to reach the uplink. Returns what it changed, for the log.
 */
export async function enableIpv4Forwarding(): Promise<string | undefined> {
  const file = '/proc/sys/net/ipv4/ip_forward';
  if ((await readFile(file, 'utf8')).trim() === '1') return undefined;
  await writeFile(file, '1\n');
  return 'turned IPv4 forwarding on (net.ipv4.ip_forward=1) for the NAT networks (lodged --uplink)';
}

/** A tap device on `bridge` that the unprivileged engine running as `owner` (QEMU, UML) may open. */
export async function createTap(name: string, owner: number, bridge: string): Promise<void> {
  await deleteLink(name);
  await ip('tuntap', 'add', 'dev', name, 'mode', 'tap', 'user', String(owner));
  await ip('link', 'set', name, 'master', bridge, 'up');
}

/** Runs `ip` commands inside the network namespace of process `pid`, all in one process (ip -batch). */
export async function ipBatchIn(pid: number, commands: readonly string[][]): Promise<void> {
  await run(['nsenter', `--net=/proc/${pid}/ns/net`, 'ip', '-batch', '-'], { input: `${commands.map((c) => c.join(' ')).join('\n')}\n` });
}

const routeTypes = new Set(['local', 'broadcast', 'unreachable', 'blackhole', 'prohibit', 'throw', 'multicast', 'anycast']);

/** The destinations of the host's IPv4 routes in every table, e.g. "10.0.0.0/8", "127.0.0.1" or "default". */
export async function routeDestinations(): Promise<string[]> {
  const { stdout } = await ip('-4', 'route', 'show', 'table', 'all');
  return stdout
    .split('\n')
    .map((l) => l.split(' '))
    .map((t) => (routeTypes.has(t[0]!) ? t[1] : t[0]))
    .filter((d): d is string => !!d);
}

/**
 * The host socket that listens on a port, if one does (TCP listening, or UDP bound), named
 * by its process where `ss` can tell: a port forward must not take a port away from it.
 * Only this network namespace's sockets count: that is where the forward applies.
 */
export async function portListener(proto: 'tcp' | 'udp', port: number): Promise<string | undefined> {
  const { stdout } = await run(['ss', '-H', '-n', '-l', '-p', proto === 'tcp' ? '-t' : '-u', `sport = :${port}`]);
  const line = stdout.split('\n').find((l) => l.trim());
  if (!line) return undefined;
  const user = /users:\(\("([^"]*)",pid=(\d+)/.exec(line);
  return user ? `${user[1]} (pid ${user[2]})` : 'a host socket';
}
