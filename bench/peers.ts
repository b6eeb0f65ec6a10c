/**
 * @module The peers Lodge is compared with, installed by the benchmark itself (Debian's
 * packages) and run without any network: Podman with a private store, runc and cgroupfs;
 * LXD with a private directory, in a network namespace that has only loopback (its
 * daemon looks up its image server when it starts), a dir storage pool and no NIC.
 * A peer that cannot be had says why instead of failing the whole benchmark.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchContext } from './bench.js';

export type Peer<T> = { available: true; peer: T } | { available: false; why: string };

/** Installs Debian packages the first time a benchmark needs them; says so. */
export function ensurePackages(ctx: BenchContext, binary: string, packages: string[]): string | undefined {
  if (spawnSync('which', [binary]).status === 0) return undefined;
  ctx.log(`installing ${packages.join(' ')} (Debian) to compare with`);
  const r = spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...packages], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0 || spawnSync('which', [binary]).status !== 0) return `apt-get install ${packages.join(' ')} failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`;
  return undefined;
}

export interface Podman {
  /** podman with the private store and configuration. */
  argv(...args: string[]): string[];
  image: string;
}

/**
 * Podman on this host: runc and cgroupfs (cgroups v1), file events, rlimits within the
 * host's hard limits, no network; its store in `dir`, removed at the end.
 */
export function podman(ctx: BenchContext, dir: string, rootfs: string): Peer<Podman> {
  const missing = ensurePackages(ctx, 'podman', ['podman', 'runc', 'fuse-overlayfs', 'uidmap']);
  if (missing) return { available: false, why: missing };
  mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'containers.conf');
  writeFileSync(
    conf,
    [
      '[containers]',
      'netns = "none"',
      'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]',
      '[engine]',
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      '',
    ].join('\n'),
  );
  const base = ['podman', '--root', path.join(dir, 'storage'), '--runroot', path.join(dir, 'run'), '--storage-driver', 'overlay'];
  const env = { ...process.env, CONTAINERS_CONF: conf };
  const argv = (...args: string[]) => ['env', `CONTAINERS_CONF=${conf}`, ...base, ...args];
  ctx.defer(() => {
    spawnSync(base[0]!, [...base.slice(1), 'rm', '--all', '--force'], { env });
    spawnSync(base[0]!, [...base.slice(1), 'system', 'reset', '--force'], { env });
  });
  const image = 'localhost/lodge-busybox';
  const tar = path.join(dir, 'rootfs.tar');
  execFileSync('tar', ['-C', rootfs, '-cf', tar, '.']);
  const imported = spawnSync(base[0]!, [...base.slice(1), 'import', tar, image], { env, encoding: 'utf8' });
  if (imported.status !== 0) return { available: false, why: `podman import failed: ${imported.stderr.trim()}` };
  return { available: true, peer: { argv, image } };
}

export interface Lxd {
  /** Runs `lxc ARGS` against the private daemon; throws with its error. */
  lxc(...args: string[]): void;
  /** The argv of `lxc ARGS`, for timing it as a program of its own. */
  argv(...args: string[]): string[];
  image: string;
  /** The daemon's pid (for its RSS). */
  pid: number;
}

const lxdPreseed = `storage_pools:
- name: default
  driver: dir
profiles:
- name: default
  devices:
    root: {path: /, pool: default, type: disk}
`;

/**
 * LXD on this host with its state in `dir`: the daemon in a network namespace of its own
 * (loopback only), the busybox rootfs imported as a unified image. Everything goes at the end:
 * its containers, the daemon, its mounts and the namespace.
 */
export function lxd(ctx: BenchContext, dir: string, rootfs: string): Peer<Lxd> {
  const missing = ensurePackages(ctx, 'lxd', ['lxd', 'lxd-client']);
  if (missing) return { available: false, why: missing };
  const lxdDir = path.join(dir, 'lxd');
  mkdirSync(lxdDir, { recursive: true });
  const env = { ...process.env, LXD_DIR: lxdDir };
  const netns = `lodge-bench-lxd-${process.pid}`;
  execFileSync('ip', ['netns', 'add', netns]);
  execFileSync('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  // its network namespace only (not its mounts, as ip netns exec would): its containers' roots stay where lxc can see them
  const daemon = spawn('nsenter', [`--net=/run/netns/${netns}`, 'lxd', '--group', 'root', '--logfile', path.join(dir, 'lxd.log')], { env, stdio: 'ignore' });
  ctx.defer(() => {
    const list = spawnSync('lxc', ['list', '--format', 'csv', '-c', 'n'], { env, encoding: 'utf8', timeout: 60_000 });
    for (const name of list.stdout?.split('\n').filter(Boolean) ?? []) spawnSync('lxc', ['delete', '--force', name], { env, timeout: 60_000 });
    spawnSync('lxd', ['shutdown', '--timeout', '30'], { env, timeout: 40_000 });
    if (daemon.exitCode === null) daemon.kill('SIGKILL');
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '');
    for (const m of mounts.filter((m) => m.startsWith(lxdDir)).sort((a, b) => b.length - a.length)) spawnSync('umount', ['--lazy', m]);
    spawnSync('ip', ['netns', 'del', netns]);
  });
  const lxcEnv = (args: string[]) => spawnSync('lxc', args, { env, encoding: 'utf8', timeout: 120_000 });
  const ready = spawnSync('lxd', ['waitready', '--timeout', '60'], { env, encoding: 'utf8' });
  if (ready.status !== 0) return { available: false, why: `lxd did not come up: ${ready.stderr.trim() || readFileSync(path.join(dir, 'lxd.log'), 'utf8').trim().split('\n').pop()}` };
  const init = spawnSync('lxd', ['init', '--preseed'], { env, input: lxdPreseed, encoding: 'utf8' });
  if (init.status !== 0) return { available: false, why: `lxd init failed: ${init.stderr.trim()}` };

  // a unified image: metadata.yaml beside rootfs/
  const image = 'lodge-busybox';
  const tarball = path.join(dir, 'lxd-image.tar');
  writeFileSync(path.join(dir, 'metadata.yaml'), `architecture: x86_64\ncreation_date: ${Math.floor(Date.now() / 1000)}\nproperties:\n  description: Lodge busybox\n  os: busybox\n`);
  // ./x becomes rootfs/x; link targets (../bin/busybox) stay as they are (S)
  execFileSync('tar', ['-C', rootfs, '-cf', tarball, '--transform', 's,^\\.,rootfs,S', '.']);
  execFileSync('tar', ['-C', dir, '-rf', tarball, 'metadata.yaml']);
  const imported = lxcEnv(['image', 'import', tarball, '--alias', image]);
  if (imported.status !== 0) return { available: false, why: `lxc image import failed: ${imported.stderr.trim()}` };
  const lxc = (...args: string[]) => {
    const r = lxcEnv(args);
    if (r.status !== 0) throw new Error(`lxc ${args.join(' ')} failed: ${r.stderr.trim()}`);
  };
  // one container first: LXD unpacks the image for its first container, which is not what is measured
  lxc('launch', image, 'warmup');
  lxc('delete', '--force', 'warmup');
  return { available: true, peer: { lxc, argv: (...args) => ['env', `LXD_DIR=${lxdDir}`, 'lxc', ...args], image, pid: daemon.pid! } };
}
