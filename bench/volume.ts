/**
 * @module volume: I/O inside a guest of each kind on each pool type, against the same I/O
 * on the host's side of that pool. fio (Debian's) runs on the host and, copied into an
 * image with the libraries it loads, inside ct, pv and vm guests, on a file in the guest's
 * root: sequential write and read (1 MiB blocks), random write and read (4 KiB), direct I/O.
 * Options: --megabytes N (64, the file), --seconds N (5, each random job).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, createReadStream, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { GuestKind } from '../src/api/common.js';
import type { PoolDriverName } from '../src/api/storage.js';
import type { TestDaemon } from '../test/system/harness.js';
import { privateDaemon, type Benchmark } from './bench.js';
import { ensurePackages } from './peers.js';

const pools: PoolDriverName[] = ['dir', 'btrfs'];
const kinds: GuestKind[] = ['ct', 'pv', 'vm'];
const jobs = ['write', 'read', 'randwrite', 'randread'] as const;
type Job = (typeof jobs)[number];
/** MiB/s for the sequential jobs, IOPS for the random ones. */
type Figures = Record<Job, number>;

/** The fio arguments of one job on `file`. */
function fioArgs(job: Job, file: string, megabytes: number, seconds: number): string[] {
  const random = job.startsWith('rand');
  return [
    '--name=lodge', `--filename=${file}`, `--rw=${job}`, `--bs=${random ? '4k' : '1m'}`, `--size=${megabytes}m`, '--direct=1', '--ioengine=psync',
    ...(random ? ['--time_based', `--runtime=${seconds}`] : []), '--output-format=json',
  ];
}

function parseFio(job: Job, json: string): number {
  const out = JSON.parse(json.slice(json.indexOf('{'))) as { jobs: Array<Record<'read' | 'write', { bw: number; iops: number }>> };
  const side = out.jobs[0]![job.includes('read') ? 'read' : 'write'];
  return job.startsWith('rand') ? side.iops : side.bw / 1024;
}

/** An image: the busybox rootfs with fio and every library it loads, as the host has them. */
async function fioImage(d: TestDaemon): Promise<void> {
  const root = path.join(d.dir, 'fio-rootfs');
  cpSync(path.join(d.stateDir, 'images/busybox/rootfs'), root, { recursive: true, verbatimSymlinks: true });
  const libs = execFileSync('ldd', ['/usr/bin/fio']).toString().match(/\/\S+/g) ?? [];
  for (const file of ['/usr/bin/fio', ...libs]) {
    const real = execFileSync('readlink', ['-f', file]).toString().trim();
    mkdirSync(path.join(root, path.dirname(file)), { recursive: true });
    cpSync(real, path.join(root, file), { dereference: true });
  }
  const tarball = path.join(d.dir, 'fio.tar');
  execFileSync('tar', ['-C', root, '-cf', tarball, '.']);
  rmSync(root, { recursive: true, force: true });
  await d.done(await d.client.images.import({ name: 'fio', init: '/sbin/init' }, createReadStream(tarball)), 600);
}

/** Runs `argv` in the guest until it answers (a vm boots for a while first). */
async function inGuest(d: TestDaemon, name: string, argv: string[]): Promise<string> {
  for (let i = 0; ; i++) {
    const r = await d.client.guests.exec(name, { command: argv }).catch((e: Error) => e);
    if (!(r instanceof Error)) {
      if (r.exitCode !== 0) throw new Error(`${argv[0]} in ${name}: ${r.stderr.trim() || r.stdout.trim()}`);
      return r.stdout;
    }
    if (i >= 60) throw r;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

export const volume: Benchmark = async (ctx) => {
  const megabytes = Number(ctx.options.megabytes ?? 64);
  const seconds = Number(ctx.options.seconds ?? 5);
  const missing = ensurePackages(ctx, 'fio', ['fio']);
  if (missing) throw new Error(missing);
  const d = await privateDaemon(ctx);
  ctx.log('making an image with fio in it');
  await fioImage(d);
  const results: Record<string, { host: Figures; guests: Partial<Record<GuestKind, Figures>> }> = {};
  for (const pool of pools) {
    const p = await d.client.storage.create({ name: `v-${pool}`, driver: pool, volumeSize: '1G', ...(pool === 'btrfs' ? { size: '8G' } : {}) });
    const host = Object.fromEntries(jobs.map((job) => [job, parseFio(job, execFileSync('fio', fioArgs(job, path.join(p.path, 'bench.fio'), megabytes, seconds)).toString())])) as Figures;
    rmSync(path.join(p.path, 'bench.fio'), { force: true });
    ctx.log(`${pool} pool, host: ${JSON.stringify(host)}`);
    results[pool] = { host, guests: {} };
    for (const kind of kinds) {
      const name = `io-${kind}-${pool}`;
      const memory = kind === 'ct' ? undefined : kind === 'vm' ? '512M' : '256M';
      await d.done(await d.client.guests.launch({ name, image: 'fio', kind, pool: `v-${pool}`, networks: [], ...(memory ? { limits: { memory } } : {}) }), 300);
      const figures = {} as Figures;
      for (const job of jobs) figures[job] = parseFio(job, await inGuest(d, name, ['fio', ...fioArgs(job, '/bench.fio', megabytes, seconds)]));
      results[pool]!.guests[kind] = figures;
      ctx.log(`${pool} pool, ${kind}: ${JSON.stringify(figures)}`);
      await d.done(await d.client.guests.delete(name, true));
    }
    await d.client.storage.delete(`v-${pool}`);
  }
  const ratio = (pool: string, kind: GuestKind, job: Job) => (results[pool]!.guests[kind]![job] / results[pool]!.host[job]).toFixed(2);
  return {
    summary: pools
      .map((pool) => `${pool}: ${kinds.map((k) => `${k} seq w/r ${ratio(pool, k, 'write')}/${ratio(pool, k, 'read')}, rand w/r ${ratio(pool, k, 'randwrite')}/${ratio(pool, k, 'randread')}`).join('; ')} of the host`)
      .join(' | '),
    result: { megabytes, seconds, units: { write: 'MiB/s', read: 'MiB/s', randwrite: 'IOPS', randread: 'IOPS' }, results },
  };
};
