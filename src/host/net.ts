/**
 * @module Network devices on the host, through iproute2 (`ip`): bridges, veth pairs,
 * moving a device into a guest's network namespace and configuring it there, and the
 * routes the host already has. Every call is one argv; nothing goes through a shell.
 */
import { run } from '../lib/exec.js';

const ip = (...args: string[]) => run(['ip', ...args]);

export async function linkExists(name: string): Promise<boolean> {
  return (await run(['ip', 'link', 'show', 'dev', name], { allowFailure: true })).code === 0;
}

/** Names of the host's links that start with `prefix`. */
export async function linksWithPrefix(prefix: string): Promise<string[]> {
  const { stdout } = await ip('-o', 'link', 'show');
  return [...stdout.matchAll(/^\d+: ([^:@]+)[:@]/gm)].map((m) => m[1]!).filter((n) => n.startsWith(prefix));
}

export async function createBridge(name: string, addressCidr: string): Promise<void> {
  if (!(await linkExists(name))) await ip('link', 'add', name, 'type', 'bridge');
  await run(['ip', 'addr', 'replace', addressCidr, 'dev', name]);
  await ip('link', 'set', name, 'up');
}

export async function deleteLink(name: string): Promise<void> {
  if (await linkExists(name)) await run(['ip', 'link', 'del', name], { allowFailure: true });
}

/** A veth pair: `host` joins `bridge`, `peer` (with `mac`) goes into the network namespace of process `pid`. */
export async function createVethInto(host: string, peer: string, mac: string, bridge: string, pid: number): Promise<void> {
  await deleteLink(host);
  await ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer, 'address', mac);
  await ip('link', 'set', host, 'master', bridge, 'up');
  await ip('link', 'set', peer, 'netns', String(pid));
}

/** Runs `ip ARGS` inside the network namespace of process `pid`. */
export async function ipIn(pid: number, ...args: string[]): Promise<void> {
  await run(['nsenter', `--net=/proc/${pid}/ns/net`, 'ip', ...args]);
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
