/**
 * @module Crash safety: a private lodged runs a random mix of operations (launch, stop,
 * start, delete, volume create, attach, detach and delete, file pushes, network create and
 * delete, port forwards) and is killed with SIGKILL at a random moment, again and again.
 * After each restart every guest must be where the database says (running with its
 * processes, stopped without them), no guest whose launch had finished may be lost, and
 * nothing may be orphaned: no process, mount, cgroup, veth, tap, nftables element,
 * dnsmasq, DNS name, bridge or file of a guest, volume or network that no longer exists,
 * no volume half-made, nothing left in lodged's scratch directory. Used by test/system/crash-safety.test.ts (a short run)
 * and `npm run soak -- --kills N`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { GuestKind } from '../../src/api/common.js';
import { ensureVmKernel } from '../../src/images/vm-kernel.js';
import { random } from '../fuzz/api-fuzz.js';
import { TestDaemon } from '../system/harness.js';
import type { SoakResult } from './fuzz.js';

export interface CrashOptions {
  kills: number;
  seed: number;
  /** Kinds launched, ct most often; vm guests need Debian's kernel in /var/cache/lodge already (lodged runs in a namespace with no way out). */
  kinds: readonly GuestKind[];
  log: (line: string) => void;
}

export interface CrashCounts {
  operations: number;
  kills: number;
  /** Guests whose launch had finished, that nobody deleted, missing after a restart. */
  guestsLost: string[];
  /** What was left of guests and networks that no longer exist. */
  orphans: string[];
  /** Guests whose recorded state the host contradicts. */
  untruthful: string[];
}

interface Row {
  id: number;
  name: string;
  kind: GuestKind;
  state: string;
}

/** What the database holds, read beside the running lodged (WAL: readers never block it). */
function readState(d: TestDaemon): {
  guests: Row[];
  nics: Array<{ guestId: number; index: number; network: string; name: string }>;
  networks: Array<{ name: string; bridge: string }>;
  volumes: Array<{ key: string; pool: string; path: string }>;
} {
  const db = new Database(path.join(d.stateDir, 'lodge.db'), { readonly: true });
  try {
    return {
      volumes: db.prepare("SELECT v.key, v.pool, p.path FROM volumes v JOIN storage_pools p ON p.name = v.pool WHERE v.key LIKE 'custom/%'").all() as Array<{ key: string; pool: string; path: string }>,
      guests: db.prepare('SELECT id, name, kind, state FROM guests').all() as Row[],
      nics: db.prepare('SELECT n.guest_id AS guestId, n.idx AS "index", n.network, g.name FROM nics n JOIN guests g ON g.id = n.guest_id').all() as Array<{ guestId: number; index: number; network: string; name: string }>,
      networks: db.prepare('SELECT name, bridge FROM networks').all() as Array<{ name: string; bridge: string }>,
    };
  } finally {
    db.close();
  }
}

const lines = (text: string) => text.split('\n').filter((l) => l.trim());

/** The pids in a guest's pids cgroup (v1 here; v2 where the host has it). */
function cgroupProcs(cgroup: string): number[] {
  for (const file of [`/sys/fs/cgroup/pids/${cgroup}/cgroup.procs`, `/sys/fs/cgroup/${cgroup}/cgroup.procs`]) {
    if (existsSync(file)) return lines(readFileSync(file, 'utf8')).map(Number);
  }
  return [];
}

/** Processes whose command line names `dir`, with the first path component below it. */
function processesUnder(dir: string): Array<{ what: string; below: string }> {
  const found: Array<{ what: string; below: string }> = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const at = cmd.indexOf(`${dir}/`);
      if (at >= 0) found.push({ what: `${pid} ${cmd.slice(0, 120)}`, below: cmd.slice(at + dir.length + 1).split(/[/ ]/)[0]! });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Everything of this lodged's that the database does not account for, and every guest whose state the host contradicts. */
export function audit(d: TestDaemon): { orphans: string[]; untruthful: string[] } {
  const { guests, nics, networks, volumes } = readState(d);
  const instance = d.instance!;
  const ids = new Set(guests.map((g) => `${instance}-${g.id}`));
  const orphans: string[] = [];
  const untruthful: string[] = [];

  const guestsDir = path.join(d.stateDir, 'guests');
  for (const dir of existsSync(guestsDir) ? readdirSync(guestsDir) : []) {
    if (!ids.has(dir)) orphans.push(`guest directory ${dir}`);
  }
  for (const volume of d.rootVolumes()) if (!ids.has(volume.split('/')[1]!.replace(/\.ext4$/, ''))) orphans.push(`root volume ${volume}`);
  for (const id of d.runtimeContainers()) if (!ids.has(id)) orphans.push(`runtime state ${id}`);
  for (const cg of d.cgroups()) if (!ids.has(cg.split('/').pop()!)) orphans.push(`cgroup ${cg}`);
  for (const m of d.mounts()) if (m.includes('/guests/') && !ids.has(m.split('/guests/')[1]!.split('/')[0]!)) orphans.push(`mount ${m}`);
  for (const p of processesUnder(guestsDir)) if (!ids.has(p.below)) orphans.push(`process ${p.what}`);

  // volumes of their own: a directory and a whole disk for each row, a mount only of one that has a row
  const custom = new Set(volumes.map((v) => path.join(v.path, v.key)));
  for (const pool of new Set(volumes.map((v) => v.path).concat(readdirSync(path.join(d.stateDir, 'storage')).map((p) => path.join(d.stateDir, 'storage', p))))) {
    const dir = path.join(pool, 'custom');
    for (const entry of existsSync(dir) ? readdirSync(dir) : []) if (!custom.has(path.join(dir, entry))) orphans.push(`volume directory ${path.join(dir, entry)}`);
  }
  for (const v of custom) if (!existsSync(path.join(v, 'disk.raw'))) untruthful.push(`volume ${v} has a row but no disk`);
  for (const m of d.mounts()) if (m.includes('/custom/') && ![...custom].some((v) => m.startsWith(`${v}/`))) orphans.push(`mount ${m}`);
  const scratch = path.join(d.stateDir, 'tmp');
  for (const entry of existsSync(scratch) ? readdirSync(scratch) : []) orphans.push(`scratch file ${entry}`);

  // host devices and the firewall's elements: exactly the NICs of guests in the database
  const devices = new Set(nics.map((n) => `lv${instance}${n.guestId.toString(36)}x${n.index}`));
  for (const line of lines(d.inNetns(['ip', '-o', 'link', 'show']).stdout)) {
    const name = /^\d+: ([^:@]+)[:@]/.exec(line)?.[1] ?? '';
    if (name.startsWith(`lv${instance}`) && !devices.has(name)) orphans.push(`link ${name}`);
    if (line.includes(`alias lodge:${instance}`) && !networks.some((n) => n.bridge === name)) orphans.push(`bridge ${name}`);
  }
  const elements = d.inNetns(['nft', 'list', 'set', 'bridge', `lodge-${instance}`, 'nic_mac']).stdout;
  for (const dev of elements.match(/"lv[0-9a-z]+"/g) ?? []) if (!devices.has(dev.slice(1, -1))) orphans.push(`nft element ${dev}`);

  // each network's dnsmasq and its names: those of networks and guests that are there
  const networksDir = path.join(d.stateDir, 'networks');
  for (const p of processesUnder(networksDir)) if (!networks.some((n) => n.name === p.below)) orphans.push(`dnsmasq of network ${p.below}: ${p.what}`);
  for (const n of networks) {
    const hosts = path.join(networksDir, n.name, 'hosts');
    const names = existsSync(hosts) ? lines(readFileSync(hosts, 'utf8')).map((l) => l.split(' ')[1]) : [];
    for (const name of names) if (!nics.some((x) => x.network === n.name && x.name === name)) orphans.push(`DNS name ${name} on network ${n.name}`);
  }

  // the recorded state against the host: a running guest has processes in its cgroup, a stopped one none
  for (const g of guests) {
    const procs = cgroupProcs(`lodge/${instance}-${g.id}`);
    if ((g.state === 'running' || g.state === 'paused') && procs.length === 0) untruthful.push(`${g.name} (${g.kind}) is ${g.state} but has no process`);
    if ((g.state === 'stopped' || g.state === 'error') && procs.length > 0) untruthful.push(`${g.name} (${g.kind}) is ${g.state} but runs ${procs.length} processes`);
    if (g.state === 'creating') untruthful.push(`${g.name} (${g.kind}) is still creating after reconcile`);
  }
  return { orphans, untruthful };
}

/** Runs the soak on a started daemon that has the busybox image and no guests. */
export async function crashSoak(d: TestDaemon, options: CrashOptions): Promise<CrashCounts> {
  const rnd = random(options.seed);
  const pick = <T>(xs: readonly T[]): T | undefined => xs[Math.floor(rnd() * xs.length)];
  const counts: CrashCounts = { operations: 0, kills: 0, guestsLost: [], orphans: [], untruthful: [] };
  /** Guests whose launch finished and whose delete nobody asked for. */
  const launched = new Set<string>();
  let serial = 0;

  /** Makes, attaches (to a stopped guest), detaches or deletes a volume of its own. */
  const volumeOperation = async (guests: Array<{ name: string; kind: GuestKind; state: string }>): Promise<void> => {
    const volumes = await d.client.volumes.list();
    const r = rnd();
    if (r < 0.4 || volumes.length === 0) {
      await d.client.volumes.create({ name: `kv${serial++}`, size: '64M' });
      return;
    }
    const v = pick(volumes)!;
    const holder = guests.find((g) => g.name === v.attachedTo?.guest);
    if (r < 0.7 && !v.attachedTo) {
      // to a stopped guest: a container at a path, a pv or vm guest as a disk
      const g = pick(guests.filter((x) => x.state === 'stopped'));
      if (g) await d.client.volumes.attach(g.name, { volume: v.name, ...(g.kind === 'ct' ? { path: `/vol/${v.name}` } : {}) });
    } else if (r < 0.85 && holder && holder.state !== 'running') {
      await d.client.volumes.detach(holder.name, v.name);
    } else if (!v.attachedTo) {
      await d.client.volumes.delete(v.name);
    }
  };

  /** One random operation; the id of the long one it started, if any. */
  const operation = async (): Promise<string | undefined> => {
    const guests = await d.client.guests.list();
    const networks = (await d.client.networks.list()).map((n) => n.name);
    const running = guests.filter((g) => g.state === 'running').map((g) => g.name);
    const stopped = guests.filter((g) => g.state === 'stopped' || g.state === 'error').map((g) => g.name);
    const r = rnd();
    counts.operations++;
    if (r < 0.32 || guests.length === 0) {
      const kind = rnd() < 0.75 ? 'ct' : (pick(options.kinds) ?? 'ct');
      const name = `k${serial++}`;
      const network = pick(networks);
      const op = await d.client.guests.launch({ name, image: 'busybox', kind, networks: network ? [{ network }] : [], ...(kind === 'ct' ? {} : { limits: { memory: kind === 'vm' ? '256M' : '64M' } }) });
      void d.client.operations.wait(op.id, 300).then((end) => end.status === 'success' && launched.add(name), () => {});
      return op.id;
    } else if (r < 0.45 && running.length) {
      return (await d.client.guests.changeState(pick(running)!, { action: 'stop', force: rnd() < 0.5, timeout: 2 })).id;
    } else if (r < 0.58 && stopped.length) {
      return (await d.client.guests.changeState(pick(stopped)!, { action: 'start' })).id;
    } else if (r < 0.7) {
      const name = pick(guests)!.name;
      launched.delete(name);
      return (await d.client.guests.delete(name, true)).id;
    } else if (r < 0.8) {
      await volumeOperation(guests);
    } else if (r < 0.85) {
      // into a container, running or stopped: a stopped one's root is mounted for the copy alone
      const g = pick(guests.filter((x) => x.kind === 'ct' && (x.state === 'running' || x.state === 'stopped')));
      if (g) await d.client.guests.pushFile(g.name, { path: '/soak/file', parents: true }, Readable.from([Buffer.alloc(1 << 20, 7)]));
    } else if (r < 0.9) {
      await d.client.networks.create({ name: `kn${serial++}` });
    } else if (r < 0.95) {
      const unused = (await d.client.networks.list()).filter((n) => n.guests.length === 0 && n.name !== 'default');
      if (unused.length) await d.client.networks.delete(pick(unused)!.name);
    } else {
      const withNic = guests.filter((g) => g.state === 'running');
      const g = pick(withNic);
      if (g) await d.client.networks.addForward(g.name, { hostPort: 20000 + Math.floor(rnd() * 10000), guestPort: 80 });
    }
    return undefined;
  };

  for (let round = 0; round < options.kills; round++) {
    // a few operations that run to their end (so that there are guests to stop, start and delete) ...
    for (let k = Math.floor(rnd() * 4); k > 0; k--) {
      const id = await operation().catch(() => undefined);
      if (id) await d.client.operations.wait(id, 300);
    }
    // ... then a few at once, and the kill at a random moment of them
    const batch = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => operation().catch(() => {}));
    await sleep(rnd() * 1500);
    await d.kill9();
    await Promise.allSettled(batch);
    counts.kills++;
    await d.start();
    // reconcile is done once the API answers; give operations that the restart failed their moment to be recorded
    const names = new Set((await d.client.guests.list()).map((g) => g.name));
    for (const name of launched) if (!names.has(name)) counts.guestsLost.push(`${name} (round ${round})`);
    const found = audit(d);
    counts.orphans.push(...found.orphans.map((o) => `round ${round}: ${o}`));
    counts.untruthful.push(...found.untruthful.map((o) => `round ${round}: ${o}`));
    const volumes = await d.client.volumes.list();
    options.log(`round ${round + 1}/${options.kills}: ${names.size} guests, ${volumes.length} volumes (${volumes.filter((v) => v.attachedTo).length} attached), ${found.orphans.length} orphans, ${found.untruthful.length} untruthful`);
  }
  return counts;
}

/** `npm run soak -- --kills N`: the long run, on all three kinds, in a network namespace of its own. */
export async function crashSoakRun(kills: number, seed: number): Promise<SoakResult> {
  // lodged runs in a namespace with no way out: the vm kernel comes from Debian's mirror first
  await ensureVmKernel('/var/cache/lodge/kernels', 'cloud-amd64');
  const d = new TestDaemon({ netns: true });
  try {
    await d.start();
    await d.buildBusybox();
    const started = Date.now();
    const counts = await crashSoak(d, { kills, seed, kinds: ['ct', 'pv', 'vm'], log: (line) => process.stderr.write(`soak: ${line}\n`) });
    return {
      ok: counts.guestsLost.length + counts.orphans.length + counts.untruthful.length === 0,
      report: [
        ['seed', seed],
        ['seconds', Math.round((Date.now() - started) / 1000)],
        ['operations', counts.operations],
        ['kills', counts.kills],
        ['guests lost', counts.guestsLost],
        ['orphans found', counts.orphans],
        ['untruthful states', counts.untruthful],
      ],
    };
  } finally {
    await d.cleanup();
  }
}
