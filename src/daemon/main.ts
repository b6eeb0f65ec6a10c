#!/usr/bin/env node
/**
 * @module lodged, the host daemon: the composition root. It makes every object once,
 * adopts the guests that kept running while it was away, and serves the API on a unix
 * socket. It runs in the foreground and logs to stderr (systemd, or `&` in a shell).
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { guestKinds } from '../api/common.js';
import { poolDrivers, type PoolDriverName } from '../api/storage.js';
import { Events } from '../core/events.js';
import { AutonomicService } from '../core/autonomic.js';
import { CpuWeigher, defaultCpuWindowMs } from '../core/autonomic-cpu.js';
import { defaultHealthEveryMs, HealthWatch } from '../core/autonomic-health.js';
import { secondsOption } from '../lib/seconds-option.js';
import { KsmPolicy } from '../core/autonomic-ksm.js';
import { KsmWants } from '../host/ksm.js';
import { ksmModes, type KsmMode } from '../api/autonomic.js';
import { guestMemoryBudget, MemoryBalancer } from '../core/autonomic-memory.js';
import { GuestService } from '../core/guests.js';
import { NetworkService } from '../core/networks.js';
import { ImageService } from '../core/images.js';
import { Operations } from '../core/operations.js';
import { Store } from '../core/store.js';
import { StorageService } from '../core/storage.js';
import { BackupService } from '../core/backups.js';
import { ScheduleService } from '../core/schedules.js';
import { TokenService } from '../core/tokens.js';
import { UserService } from '../core/users.js';
import { SnapshotService } from '../core/snapshots.js';
import { VolumeService } from '../core/volumes.js';
import { CtDriver } from '../drivers/ct/driver.js';
import { PvDriver } from '../drivers/pv/driver.js';
import { VmDriver } from '../drivers/vm/driver.js';
import { DriverRegistry } from '../drivers/registry.js';
import { cgroupVersion } from '../host/cgroups.js';
import { raiseKernelLimits } from '../host/kernel-limits.js';
import { enableIpv4Forwarding } from '../host/net.js';
import { ImageFiles } from '../images/store.js';
import { useSpawner } from '../lib/exec.js';
import { LodgedMetrics } from '../core/lodged-metrics.js';
import { MetricsService } from '../core/metrics.js';
import { defaultHistoryIntervalMs, HistoryService } from '../core/history.js';
import { buildServer } from './server.js';
import { httpsOptions, listenHttps } from './https-listener.js';
import { loadWebConsole } from './web-console.js';
import type { HttpsListener } from '../api/host.js';
import { lodgeVersion } from '../api/version.js';

const usage = `lodged: the Lodge host daemon

Usage: lodged [--socket PATH] [--state-dir DIR] [--no-default-network] [--uplink [--resolv-conf FILE]] [--default-pool-driver dir|btrfs]
              [--listen ADDRESS:PORT [--tls-cert FILE --tls-key FILE]] [--guest-memory SIZE] [--autonomic-dry-run]
              [--history-interval SECONDS] [--autonomic-cpu-window SECONDS] [--autonomic-health-every SECONDS] [--ksm off|auto|always]
              [--autostart-delay SECONDS]

  --socket PATH           unix socket of the API (default /run/lodge/lodge.sock; clients find it via LODGE_SOCKET)
  --state-dir DIR         database, images and guests (default /var/lib/lodge)
  --no-default-network    do not make the network "default" on the first start (guests then
                          have only loopback unless launched with --network)
  --uplink                let the guests of NAT networks (all but --isolated ones) out through
                          the host: turns IPv4 forwarding on, masquerades them, and forwards
                          DNS names outside .lodge to the host's resolvers. Without it every
                          network reaches the host and its own guests only, and Lodge leaves
                          the host's routing as it is.
  --resolv-conf FILE      the resolvers for --uplink (default /etc/resolv.conf)
  --default-pool-driver dir|btrfs
                          the driver of the storage pool "default", made on the first
                          start (default: btrfs on a sparse file where the host can, dir
                          otherwise); later starts keep the pool as it is
  --listen ADDRESS:PORT   serve the API and the web console over HTTPS too (127.0.0.1:8443, 0.0.0.0:8443, [::]:8443),
                          to users and tokens (lodge user add, lodge token add); without it
                          nothing listens on TCP
  --tls-cert FILE, --tls-key FILE
                          the listener's certificate and key (PEM); without them Lodge makes a
                          self-signed one at the first start (STATE-DIR/tls), whose fingerprint
                          lodge host shows
  --guest-memory SIZE     the memory the autonomic loop shares among running guests when their
                          limits add up to more (default: the host's memory less 1 GiB or a
                          tenth, whichever is more: the reserve is never given away); only smaller
  --autonomic-dry-run     the loop logs the memory moves and CPU weights it would make (lodge
                          autonomic log) and makes none
  --autonomic-cpu-window SECONDS
                          how long a guest must keep a CPU busy before the loop lowers its CPU
                          weight (default 60); it gets its weight back after half as long quiet
  --autonomic-health-every SECONDS
                          how often the loop asks each running guest whether what holds its
                          console and the agent in it answer (default 30); a side silent for two
                          probes in a row is reported (lodge autonomic log), and so is its return
  --ksm off|auto|always   the host's KSM merges vm guests' identical pages: auto (the default) runs
                          ksmd while vm guests run and their ceilings overcommit the guest memory
                          budget, always whenever a vm runs; off keeps guests' pages apart (pages
                          shared between guests are a side channel). A ksmd lodged started stops
                          when no lodged on the host wants it; one the administrator started is left
  --history-interval SECONDS
                          how often the in-memory history (GET /1.0/history, the console's
                          graphs) samples the host and each guest (default 10; it keeps the
                          last 360 samples, an hour at 10 s)
  --autostart-delay SECONDS
                          at its start, lodged starts the guests launched with --autostart that
                          were running and had ended without being stopped (a host reboot), in
                          their --autostart-order, each once the one before has started and this
                          long after (default 2; 0 for none)
  --version         print the version
  -h, --help        this help

Runs in the foreground and logs to stderr. Guests keep running when lodged stops;
the next lodged adopts them.`;

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} lodged: ${message}\n`);
}

/** Refuses to start beside another lodged on the same socket; removes a socket a dead one left. */
async function claimSocket(socketPath: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.connect(socketPath);
    c.on('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
  if (alive) throw new Error(`another lodged is already serving ${socketPath}`);
  await rm(socketPath, { force: true });
}

/** The first directory above `dir` that other users cannot pass through, if any. */
async function unsearchableAncestor(dir: string): Promise<string | undefined> {
  for (let d = path.dirname(dir); d !== path.dirname(d); d = path.dirname(d)) {
    if (((await stat(d)).mode & 0o001) === 0) return d;
  }
  return undefined;
}

/** --uplink and its resolvers, checked before anything is made. */
async function uplinkOption(uplink: boolean | undefined, resolvConf: string | undefined): Promise<{ resolvConf: string } | undefined> {
  if (!uplink) {
    if (resolvConf !== undefined) throw new Error('--resolv-conf is for --uplink only: without it nothing is forwarded upstream');
    return undefined;
  }
  const file = path.resolve(resolvConf ?? '/etc/resolv.conf');
  if (!existsSync(file)) throw new Error(`--resolv-conf: ${file} does not exist`);
  // dnsmasq reads it as nobody
  const closed = ((await stat(file)).mode & 0o004) === 0 ? file : await unsearchableAncestor(file);
  if (closed) throw new Error(`--resolv-conf: dnsmasq reads ${file} as nobody, and ${closed} is closed to others (chmod o+r or o+x)`);
  return { resolvConf: file };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      socket: { type: 'string', default: '/run/lodge/lodge.sock' },
      'state-dir': { type: 'string', default: '/var/lib/lodge' },
      'no-default-network': { type: 'boolean' },
      uplink: { type: 'boolean' },
      'resolv-conf': { type: 'string' },
      'default-pool-driver': { type: 'string' },
      listen: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'guest-memory': { type: 'string' },
      'autonomic-dry-run': { type: 'boolean' },
      'history-interval': { type: 'string' },
      'autostart-delay': { type: 'string' },
      'autonomic-cpu-window': { type: 'string' },
      'autonomic-health-every': { type: 'string' },
      ksm: { type: 'string', default: 'auto' },
      version: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void console.log(usage);
  if (values.version) return void console.log(lodgeVersion());
  if (process.getuid?.() !== 0) throw new Error('lodged must run as root (it makes namespaces, mounts and cgroups)');
  const uplink = await uplinkOption(values.uplink, values['resolv-conf']);
  const guestMemory = guestMemoryBudget(os.totalmem(), values['guest-memory']);
  // the CPU window and the health probes take whole seconds down to what tests use; a history sample at least a second apart (a reading of every guest costs more than nothing)
  const cpuWindowMs = secondsOption('--autonomic-cpu-window', values['autonomic-cpu-window'], defaultCpuWindowMs, { min: 2, max: 3600, whole: true });
  const healthEveryMs = secondsOption('--autonomic-health-every', values['autonomic-health-every'], defaultHealthEveryMs, { min: 1, max: 3600, whole: true });
  const ksmMode = values.ksm as KsmMode;
  if (!(ksmModes as readonly string[]).includes(ksmMode)) throw new Error(`--ksm: "${values.ksm}" is not off, auto or always`);
  const httpsAsked = httpsOptions(values);
  const poolDriver = values['default-pool-driver'];
  if (poolDriver !== undefined && !(poolDrivers as readonly string[]).includes(poolDriver)) throw new Error(`--default-pool-driver: "${poolDriver}" is not dir or btrfs`);
  const historyIntervalMs = secondsOption('--history-interval', values['history-interval'], defaultHistoryIntervalMs, { min: 1, max: 3600 });
  const autostartDelayMs = secondsOption('--autostart-delay', values['autostart-delay'], 2000, { min: 0, max: 3600 });
  const stateDir = path.resolve(values['state-dir']);
  const socketPath = path.resolve(values.socket);
  const dirs = { guests: path.join(stateDir, 'guests'), images: path.join(stateDir, 'images'), runtime: path.join(stateDir, 'runtime'), tmp: path.join(stateDir, 'tmp'), storage: path.join(stateDir, 'storage') };
  for (const d of [stateDir, ...Object.values(dirs), path.dirname(socketPath)]) await mkdir(d, { recursive: true });
  // unprivileged guests' init must be able to pass through to their root filesystem
  for (const d of [stateDir, dirs.guests, dirs.storage]) await chmod(d, 0o711);
  const blocking = await unsearchableAncestor(stateDir);
  if (blocking) log(`warning: ${blocking} is not searchable by others (chmod o+x ${blocking}): unprivileged guests will fail to start`);
  await rm(dirs.tmp, { recursive: true, force: true });
  // others may pass through (the readers of backups' disks reach their own directory), never list it
  await mkdir(dirs.tmp, { mode: 0o711 });
  await chmod(dirs.tmp, 0o711);

  const store = new Store(path.join(stateDir, 'lodge.db'));
  const events = new Events();
  const operations = new Operations(store, events);
  operations.failInterrupted();
  const imageFiles = new ImageFiles(dirs.images);
  for (const line of await imageFiles.prepare(store.images().map((i) => i.name))) log(line);

  // lodged forks no program itself: each fork of a process this size costs milliseconds of its one thread
  useSpawner(fileURLToPath(new URL('../../shim/lodge-spawner', import.meta.url)));
  const drivers = new DriverRegistry();
  const shimBinary = fileURLToPath(new URL('../../shim/lodge-shim', import.meta.url));
  const ct = await drivers.add(new CtDriver({ runtimeRoot: dirs.runtime, shimBinary, filesBinary: fileURLToPath(new URL('../../shim/lodge-files', import.meta.url)), cgroupParent: '/lodge', consoleLogBytes: 1 << 20 }));
  const pv = await drivers.add(new PvDriver({ kernel: '/usr/bin/linux.uml', modulesDir: '/usr/lib/uml/modules', shimBinary, xstateLibrary: fileURLToPath(new URL('../../shim/lodge-uml-xstate.so', import.meta.url)), cgroupParent: '/lodge', consoleLogBytes: 1 << 20 }));
  // vm kernels are Debian's packages unpacked, the same for every lodged on the host: a cache, not state
  const kernelCacheDir = '/var/cache/lodge/kernels';
  const busybox = '/bin/busybox';
  const vm = await drivers.add(new VmDriver({ qemu: '/usr/bin/qemu-system-x86_64', scratchDir: dirs.tmp, kernelCacheDir, busybox, shimBinary, cgroupParent: '/lodge', consoleLogBytes: 1 << 20, mergeable: ksmMode !== 'off' }));
  for (const info of [ct, pv, vm]) log(`${info.kind}: ${info.available ? '' : 'UNAVAILABLE: '}${info.engine}`);

  if (uplink) {
    const changed = await enableIpv4Forwarding();
    if (changed) log(changed);
  }
  for (const line of await raiseKernelLimits()) log(line);
  const networks = new NetworkService({ store, events, dir: path.join(stateDir, 'networks'), log, ...(uplink ? { uplink } : {}) });
  await networks.restore();
  if (!values['no-default-network']) await networks.ensureDefault();
  const storage = new StorageService({ store, dir: dirs.storage, log });
  await storage.restore();
  await storage.ensureDefault(poolDriver as PoolDriverName | undefined);
  const volumes = new VolumeService({ store, storage });
  const unpackHelper = fileURLToPath(new URL('../../shim/lodge-unpack', import.meta.url));
  const images = new ImageService({ store, files: imageFiles, operations, events, kernelCacheDir, busybox, unpackHelper });
  for (const line of await images.restore()) log(line);
  const guests = new GuestService({ store, drivers, images, operations, events, networks, storage, volumes, guestsDir: dirs.guests, hostMemoryBytes: os.totalmem(), log });
  // listening before reconcile: a guest that ended while lodged was down is restarted per its policy
  const memory = new MemoryBalancer({ guests, operations, log, budgetBytes: guestMemory, dryRun: values['autonomic-dry-run'] === true });
  const cpu = new CpuWeigher({ guests, operations, log, dryRun: values['autonomic-dry-run'] === true, windowMs: cpuWindowMs });
  const health = new HealthWatch({ guests, operations, log, everyMs: healthEveryMs });
  const ksm = new KsmPolicy({ guests, operations, log, mode: ksmMode, budgetBytes: guestMemory, wants: new KsmWants(stateDir), dryRun: values['autonomic-dry-run'] === true });
  const autonomic = new AutonomicService({ store, guests, operations, events, log, memory, cpu, health, ksm });
  autonomic.start();
  const toAutostart = await guests.reconcile();
  const snapshots = new SnapshotService({ store, guests, storage, drivers, operations, events, log });
  await snapshots.sweep();
  const readerHelper = fileURLToPath(new URL('../../shim/lodge-userns', import.meta.url));
  const backups = new BackupService({ store, guests, storage, operations, events, keysDir: path.join(stateDir, 'backup-keys'), stateDir: path.resolve(stateDir), images, readerHelper, log });
  const schedules = new ScheduleService({ store, snapshots, backups, operations, log });
  const users = new UserService({ store, log });
  const tokens = new TokenService({ store, users, log });
  const lodgedMetrics = new LodgedMetrics();
  lodgedMetrics.watch(events);
  const metrics = new MetricsService({ guests, storage, events, lodged: lodgedMetrics });
  const history = new HistoryService({ metrics, guests, events, log, intervalMs: historyIntervalMs });
  let listener: HttpsListener | undefined;

  const app = await buildServer({
    guests,
    autonomic,
    images,
    networks,
    storage,
    snapshots,
    backups,
    schedules,
    volumes,
    users,
    tokens,
    operations,
    events,
    metrics,
    history,
    lodgedMetrics,
    tmpDir: dirs.tmp,
    log,
    hostInfo: () => ({ apiVersion: '1.0', version: lodgeVersion(), instance: store.instance, cgroups: cgroupVersion(), drivers: guestKinds.flatMap((k) => { const info = drivers.info(k); return info ? [{ ...info, ...DriverRegistry.describe(info) }] : []; }), ...(storage.hostInfo() ? { storage: storage.hostInfo()! } : {}), ...(listener ? { listen: listener } : {}) }),
  });
  await claimSocket(socketPath);
  // before the socket: a client that finds lodged answering finds its listener in GET /1.0
  if (httpsAsked) {
    const web = await loadWebConsole(fileURLToPath(new URL('../../web', import.meta.url)), log);
    listener = await listenHttps(app, httpsAsked, { stateDir, instance: store.instance }, web);
    log(`serving https://${listener.address.includes(':') ? `[${listener.address}]` : listener.address}:${listener.port} (certificate ${listener.certificate}, SHA-256 ${listener.fingerprint})`);
  }
  await app.listen({ path: socketPath });
  await chmod(socketPath, 0o660);
  log(`lodge ${lodgeVersion()} serving ${socketPath}, state in ${stateDir}`);
  schedules.start();
  history.start();
  // serving meanwhile: the guests come up one after the other, each an operation of its own
  if (toAutostart.length) log(`autostart: ${toAutostart.map((g) => g.name).join(', ')}, in this order, ${autostartDelayMs / 1000} s apart`);
  void guests.autostart(toAutostart, autostartDelayMs);

  const shutdown = async (signal: string) => {
    log(`${signal}: stopping (guests keep running)`);
    schedules.stop();
    history.stop();
    autonomic.stop();
    // a launch or a start half-done is undone now rather than found at the next start
    await operations.cancelAll('called off: lodged is shutting down', 30_000);
    await app.close();
    store.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((e: Error) => {
  log(`cannot start: ${e.message}`);
  process.exit(1);
});
