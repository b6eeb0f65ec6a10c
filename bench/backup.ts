/**
 * @module backup: Lodge's backups against restic and borgbackup (Debian's), on the same data
 * in the same run. For a running guest of each kind (--image, default debian/12; --kinds,
 * default ct,pv,vm) that has written 64 MiB (48 random, 16 of text): the guest's root volume
 * (what a Lodge backup holds: a container's upper layer; of a pv or vm guest its disk as the
 * guest sees it, which the peers get as a raw file made from the COW file over its base or
 * from the qcow2 before each of their backups, untimed) is backed up by Lodge, by restic and by borg, each
 * into a store of its own; then 10 MB are written in the guest and each backs it up again;
 * then Lodge backs the idle guest up once more. Then ten containers of the
 * image with the same 16 MiB application data and a little of their own, each backed up
 * once: the store's size after ten against after one. Then the restore of the last backup: Lodge's to a new guest (made,
 * not booted), restic's and borg's to a directory.
 * restic always encrypts (its repository format); borg runs with --encryption none and
 * zstd,3, Lodge's store unencrypted with zstd: each one's default otherwise.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { GuestKind } from '../src/api/common.js';
import { cowHeaderBytes, parseCowHeader } from '../src/drivers/pv/cow.js';
import { baseIdentity, openCowDisk } from '../src/drivers/pv/cow-disk.js';
import type { TestDaemon } from '../test/system/harness.js';
import { privateDaemon, type BenchContext, type Benchmark } from './bench.js';
import { ensurePackages } from './peers.js';
import { timed } from './stats.js';

const mib = 1024 * 1024;

/** Bytes a directory takes on the host. */
const du = (dir: string) => Number(execFileSync('du', ['-sB1', dir]).toString().split('\t')[0]);

function tool(argv: string[], env: NodeJS.ProcessEnv = {}): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 * mib });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
}

/** One backup tool: init its store, back a directory up, restore the latest into a directory. */
interface Peer {
  name: string;
  init(repo: string): void;
  backup(repo: string, dir: string, tag: string): void;
  restore(repo: string, tag: string, into: string): void;
}

const resticEnv = { RESTIC_PASSWORD: 'lodge-bench', RESTIC_CACHE_DIR: '/tmp/lodge-bench-restic-cache' };
const restic: Peer = {
  name: 'restic',
  init: (repo) => tool(['restic', 'init', '--repo', repo], resticEnv),
  backup: (repo, dir, tag) => tool(['restic', 'backup', '--repo', repo, '--tag', tag, '--quiet', dir], resticEnv),
  restore: (repo, tag, into) => tool(['restic', 'restore', '--repo', repo, 'latest', '--tag', tag, '--target', into], resticEnv),
};

const borgEnv = { BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes', BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes', BORG_BASE_DIR: '/tmp/lodge-bench-borg' };
let borgSerial = 0;
const borg: Peer = {
  name: 'borg',
  init: (repo) => tool(['borg', 'init', '--encryption', 'none', repo], borgEnv),
  backup: (repo, dir, tag) => tool(['borg', 'create', '--compression', 'zstd,3', `${repo}::${tag}-${borgSerial++}`, dir], borgEnv),
  restore: (repo, tag, into) => {
    const archives = execFileSync('borg', ['list', '--short', repo], { env: { ...process.env, ...borgEnv } }).toString().split('\n').filter((a) => a.startsWith(`${tag}-`));
    mkdirSync(into, { recursive: true });
    const r = spawnSync('borg', ['extract', `${repo}::${archives.at(-1)}`], { cwd: into, env: { ...process.env, ...borgEnv }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`borg extract: ${r.stderr}`);
  },
};

async function exec(d: TestDaemon, name: string, script: string): Promise<void> {
  for (let i = 0; ; i++) {
    const r = await d.client.guests.exec(name, { command: ['sh', '-c', script] }).catch((e: Error) => e);
    if (!(r instanceof Error) && r.exitCode === 0) return;
    if (i >= 120) throw new Error(`${name}: ${script}: ${r instanceof Error ? r.message : r.stderr}`);
    await new Promise((res) => setTimeout(res, 1000));
  }
}

interface KindResult {
  /** ms of the first backup, of the one after 10 MB were written, and of the restore; bytes each store holds after both. */
  first: Record<string, number>;
  /** ms of Lodge's backup of the guest once more, idle. */
  idle: number;
  incremental: Record<string, number>;
  restore: Record<string, number>;
  storedBytes: Record<string, number>;
  dataBytes: number;
}

/** A pv guest's disk as its guest sees it (its COW file over the base the file names), as a sparse raw file. */
async function pvRawDisk(cow: string, out: string): Promise<void> {
  const head = Buffer.alloc(cowHeaderBytes);
  const fd = openSync(cow, 'r');
  readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  const header = parseCowHeader(head)!;
  const disk = await openCowDisk(cow, baseIdentity(header.backingFile, statSync(header.backingFile)), cow);
  const to = openSync(out, 'w');
  try {
    for (let at = 0; at < disk.size; at += 4 * mib) {
      const data = await disk.read(at, Math.min(4 * mib, disk.size - at));
      if (data !== 'zero') writeSync(to, data, 0, data.length, at);
    }
    ftruncateSync(to, disk.size);
  } finally {
    closeSync(to);
    await disk.close();
  }
}

async function lodgeBackup(d: TestDaemon, name: string): Promise<number> {
  return timed(async () => d.done(await d.client.backups.create(name, { store: 'bench' }), 3600));
}

async function oneKind(ctx: BenchContext, d: TestDaemon, kind: GuestKind, image: string, work: string): Promise<KindResult> {
  const name = `bk-${kind}`;
  await d.done(await d.client.guests.launch({ name, image, kind, networks: [], ...(kind === 'ct' ? {} : { limits: { memory: '512M' } }) }), 1800);
  // what the first backup holds beside what the guest wrote itself: 48 MiB that does not compress and 16 MiB of text that does
  await exec(d, name, 'dd if=/dev/urandom of=/root/bench-random bs=1M count=48 2>/dev/null && seq 1 2500000 > /root/bench-text && sync');
  const volume = (await d.client.guests.get(name)).root!.path;
  // a pv or vm guest's disk as its guest sees it, for the peers: what a Lodge backup of one holds
  const root = kind === 'ct' ? volume : path.join(work, `${kind}-disk`);
  const peerData = async () => {
    if (kind === 'ct') return;
    mkdirSync(root, { recursive: true });
    if (kind === 'vm') tool(['qemu-img', 'convert', '-U', '-O', 'raw', path.join(volume, 'root.qcow2'), path.join(root, 'disk.raw')]);
    else await pvRawDisk(path.join(volume, 'root.cow'), path.join(root, 'disk.raw'));
  };
  const repos = { restic: path.join(work, `restic-${kind}`), borg: path.join(work, `borg-${kind}`) };
  restic.init(repos.restic);
  borg.init(repos.borg);
  const storeBefore = du(path.join(work, 'lodge'));
  const first: Record<string, number> = { lodge: await lodgeBackup(d, name) };
  await peerData();
  for (const p of [restic, borg]) first[p.name] = await timed(() => p.backup(repos[p.name as 'restic'], root, kind));
  await exec(d, name, 'dd if=/dev/urandom of=/root/bench-10m bs=1M count=10 2>/dev/null && sync');
  const incremental: Record<string, number> = { lodge: await lodgeBackup(d, name) };
  await peerData();
  for (const p of [restic, borg]) incremental[p.name] = await timed(() => p.backup(repos[p.name as 'restic'], root, kind));
  const idle = await lodgeBackup(d, name);
  const storedBytes = { lodge: du(path.join(work, 'lodge')) - storeBefore, restic: du(repos.restic), borg: du(repos.borg) };
  const last = (await d.client.backups.list('bench', name)).at(-1)!;
  const restore: Record<string, number> = {
    lodge: await timed(async () => d.done(await d.client.backups.restore('bench', name, last.id, { name: `${name}-r` }), 3600)),
  };
  for (const p of [restic, borg]) restore[p.name] = await timed(() => p.restore(repos[p.name as 'restic'], kind, path.join(work, `${p.name}-${kind}-out`)));
  const result = { first, incremental, idle, restore, storedBytes, dataBytes: last.sizeBytes ?? 0 };
  ctx.log(
    `${kind}: ${(result.dataBytes / mib).toFixed(1)} MiB; first backup ms lodge ${first.lodge!.toFixed(0)} restic ${first.restic!.toFixed(0)} borg ${first.borg!.toFixed(0)}; ` +
      `after 10 MB lodge ${incremental.lodge!.toFixed(0)} restic ${incremental.restic!.toFixed(0)} borg ${incremental.borg!.toFixed(0)}; idle lodge ${idle.toFixed(0)}; ` +
      `stored MiB lodge ${(storedBytes.lodge / mib).toFixed(1)} restic ${(storedBytes.restic / mib).toFixed(1)} borg ${(storedBytes.borg / mib).toFixed(1)}; ` +
      `restore ms lodge ${restore.lodge!.toFixed(0)} restic ${restore.restic!.toFixed(0)} borg ${restore.borg!.toFixed(0)}`,
  );
  for (const n of [name, `${name}-r`]) await d.done(await d.client.guests.delete(n, true), 300);
  return result;
}

/** Ten containers of one image, each backed up once into a new store of each tool: the stores' sizes against one container's. */
async function tenGuests(ctx: BenchContext, d: TestDaemon, image: string, work: string): Promise<Record<string, { one: number; ten: number; ratio: number }>> {
  const names = Array.from({ length: 10 }, (_, i) => `ten-${i}`);
  await d.client.backups.addStore({ name: 'ten', path: path.join(work, 'lodge-ten') });
  const repos = { restic: path.join(work, 'restic-ten'), borg: path.join(work, 'borg-ten') };
  restic.init(repos.restic);
  borg.init(repos.borg);
  const sizes: Record<string, number[]> = { lodge: [], restic: [], borg: [] };
  for (const name of names) {
    await d.done(await d.client.guests.launch({ name, image, networks: [] }), 600);
    // what guests of one image have in common beside the image (an application's files, the same in each: 16 MiB), and a little of their own
    await exec(d, name, `mkdir -p /srv/app && seq 1 2500000 > /srv/app/data && ls -lR /etc > /root/etc.txt 2>/dev/null; echo ${name} > /root/me; sync`);
    const root = (await d.client.guests.get(name)).root!.path;
    await d.done(await d.client.backups.create(name, { store: 'ten' }), 600);
    restic.backup(repos.restic, root, 'ten');
    borg.backup(repos.borg, root, 'ten');
    sizes.lodge!.push(du(path.join(work, 'lodge-ten')));
    sizes.restic!.push(du(repos.restic));
    sizes.borg!.push(du(repos.borg));
  }
  const out: Record<string, { one: number; ten: number; ratio: number }> = {};
  for (const [tool, s] of Object.entries(sizes)) out[tool] = { one: s[0]!, ten: s.at(-1)!, ratio: s.at(-1)! / s[0]! };
  ctx.log(`ten containers of ${image}: store after one, after ten (ratio): ${Object.entries(out).map(([t, v]) => `${t} ${(v.one / mib).toFixed(2)} MiB, ${(v.ten / mib).toFixed(2)} MiB (${v.ratio.toFixed(2)})`).join('; ')}`);
  for (const name of names) await d.done(await d.client.guests.delete(name, true), 300);
  return out;
}

export const backup: Benchmark = async (ctx) => {
  for (const [binary, pkg] of [['restic', 'restic'], ['borg', 'borgbackup']] as const) {
    const missing = ensurePackages(ctx, binary, [pkg]);
    if (missing) throw new Error(missing);
  }
  const image = String(ctx.options.image ?? 'debian/12');
  const kinds = String(ctx.options.kinds ?? 'ct,pv,vm').split(',') as GuestKind[];
  const d = await privateDaemon(ctx);
  if (image !== 'busybox') {
    ctx.log(`building ${image}`);
    await d.done(await d.client.images.build({ name: image as 'debian/12' }), 3600);
  }
  const work = path.join(d.dir, 'bench-backup');
  mkdirSync(work, { recursive: true });
  ctx.defer(() => rmSync('/tmp/lodge-bench-restic-cache', { recursive: true, force: true }));
  ctx.defer(() => rmSync('/tmp/lodge-bench-borg', { recursive: true, force: true }));
  await d.client.backups.addStore({ name: 'bench', path: path.join(work, 'lodge') });
  const perKind: Partial<Record<GuestKind, KindResult>> = {};
  for (const kind of kinds) perKind[kind] = await oneKind(ctx, d, kind, image, work);
  const ten = await tenGuests(ctx, d, image, work);
  return {
    summary: [
      ...kinds.map((k) => `${k} first ${perKind[k]!.first.lodge!.toFixed(0)} ms (restic ${perKind[k]!.first.restic!.toFixed(0)}, borg ${perKind[k]!.first.borg!.toFixed(0)}), after 10 MB ${perKind[k]!.incremental.lodge!.toFixed(0)} ms (restic ${perKind[k]!.incremental.restic!.toFixed(0)}, borg ${perKind[k]!.incremental.borg!.toFixed(0)}), idle ${perKind[k]!.idle.toFixed(0)} ms`),
      `ten containers: lodge ${ten.lodge!.ratio.toFixed(2)}x one, restic ${ten.restic!.ratio.toFixed(2)}x, borg ${ten.borg!.ratio.toFixed(2)}x`,
    ].join('; '),
    result: { image, perKind, ten },
  };
};
