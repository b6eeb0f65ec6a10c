/**
 * @module The peers Lodge is compared with, installed by the benchmark itself (Debian's
 * packages) and run without any network: Podman with a private store, runc and cgroupfs.
 * A peer that cannot be had says why instead of failing the whole benchmark.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
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
