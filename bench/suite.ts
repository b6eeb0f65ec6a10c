/**
 * The benchmark suite: `npm run bench -- [NAME...] [options]`. Each benchmark runs Lodge
 * and what it is compared with in one script, alternating runs, prints medians, min-max
 * and ratios, and writes bench/results/NAME.json; the suite ends with one line each.
 * Everything a benchmark makes is removed when it ends, fails or is interrupted.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { BenchContext, BenchOptions, Benchmark } from './bench.js';

const benchmarks: Record<string, { about: string; load: () => Promise<Benchmark> }> = {
  'ct-start': { about: 'a container: API launch against runc create+start; lodge launch + exec against podman and LXD; CLI cold start', load: async () => (await import('./ct-start.js')).ctStart },
  density: { about: 'N containers (--count, default 2000) on Lodge networks: launch time, memory per guest, list and delete, against raw runc and LXD (--lxd-count, 200)', load: async () => (await import('./density.js')).density },
  'vm-boot': { about: 'lodge launch --kind vm to the shell prompt against the same QEMU command by hand', load: async () => (await import('./guest-boot.js')).vmBoot },
  'pv-boot': { about: 'lodge launch --kind pv to the shell prompt against the same linux.uml command by hand', load: async () => (await import('./guest-boot.js')).pvBoot },
  net: { about: 'TCP throughput and round trip: two ct and two vm guests on a bridge against two bare namespaces', load: async () => (await import('./net.js')).net },
  storage: { about: 'dir against btrfs pools: ct launch and delete (against runc), N containers (--count, 50): time, host disk and loop devices per guest; pv and vm launches', load: async () => (await import('./storage.js')).storage },
  volume: { about: 'fio inside ct, pv and vm guests on a dir and a btrfs pool, against fio on the host side of the same pool (--megabytes, 64; --seconds, 5)', load: async () => (await import('./volume.js')).volume },
  backup: { about: 'backups of a running guest of each kind (--image, debian/12; --kinds, ct,pv,vm): first, after 10 MB, restore, store size; ten containers of one image; against restic and borg', load: async () => (await import('./backup.js')).backup },
  autonomic: {
    about: "the loop's memory balancing on and paused: six guests of mixed kinds over a small budget (--budget-mb, 1280), two growing past their share (--grow-mb, 96), two idle, two spinning (--spin, 4000000); OOM kills, stalls, spin times",
    load: async () => (await import('./autonomic.js')).autonomic,
  },
  ksm: { about: 'host memory held by vm guests (--vms, 3, of --vm-mb, 256) after --wait (120) s with the KSM policy on (--ksm always) against off', load: async () => (await import('./ksm.js')).ksm },
  exec: { about: "lodge exec against runc exec and podman exec -i of the same rootfs: MB through cat's stdin and stdout (--megabytes, 100), a line's round trip through a shell", load: async () => (await import('./exec.js')).execBench },
  web: { about: 'the web console in Chromium: the guest list and the dashboard drawn with no guest and with --count (1000) running containers, and the bytes of the first page', load: async () => (await import('./web.js')).web },
  api: { about: "requests per second and latency of GET /1.0/guests with 1000 guests, and of one guest; a metrics scrape's latency", load: async () => (await import('./api.js')).api },
};

const usage = `npm run bench -- [NAME...] [options]

Benchmarks (all when none is named):
${Object.entries(benchmarks)
  .map(([name, b]) => `  ${name.padEnd(10)} ${b.about}`)
  .join('\n')}

Options:
  --runs N            runs of each side (each benchmark has its own default)
  --count N           density: containers (default 2000)
  --lxd-count N       density: LXD containers (default 200)
  --megabytes N       net: MB per ct transfer (default 128); volume: the file fio uses (64); exec: MB through cat (100)
  --seconds N         volume: the length of each random job (5)
  --vm-megabytes N    net: MB per vm transfer (default 16)
  --no-vm             net: leave the vm pair out
  --no-peers          ct-start, density, exec: leave Podman and LXD out
  --image NAME        backup: the image of its guests (default debian/12)
  --kinds LIST        backup, autonomic: the kinds (default ct,pv,vm)
  --budget-mb N       autonomic: the guest memory budget (default 1280)
  --grow-mb N         autonomic: how far past its share each grower writes (default 96)
  --spin N            autonomic: what each spinner counts to (default 4000000)
  --vms N, --vm-mb N, --wait S
                      ksm: how many vm guests, of what memory, measured after how long (3, 256, 120)
  --pool dir|btrfs    the driver of the private lodged's default pool (default: what lodged
                      chooses, btrfs where it can): guests' roots live there

Results: bench/results/NAME.json (NAME-POOL.json with --pool). Runs as root; installs the peers (podman, lxd) it compares with.`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string' },
    count: { type: 'string' },
    'lxd-count': { type: 'string' },
    megabytes: { type: 'string' },
    seconds: { type: 'string' },
    'vm-megabytes': { type: 'string' },
    'no-vm': { type: 'boolean' },
    'no-peers': { type: 'boolean' },
    pool: { type: 'string' },
    image: { type: 'string' },
    kinds: { type: 'string' },
    'budget-mb': { type: 'string' },
    'grow-mb': { type: 'string' },
    spin: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const unknown = positionals.filter((n) => !benchmarks[n]);
if (unknown.length > 0) {
  console.error(`unknown benchmark: ${unknown.join(', ')}\n\n${usage}`);
  process.exit(2);
}
const options: BenchOptions = {};
for (const [k, v] of Object.entries(values)) {
  if (v === undefined || k === 'help') continue;
  if (k === 'pool') {
    if (v !== 'dir' && v !== 'btrfs') {
      console.error(`--pool: ${String(v)} is not dir or btrfs`);
      process.exit(2);
    }
    options.pool = v;
    continue;
  }
  if (k === 'image' || k === 'kinds') {
    options[k] = String(v);
    continue;
  }
  const n = typeof v === 'string' ? Number(v) : NaN;
  if (typeof v === 'string' && !(Number.isInteger(n) && n > 0)) {
    console.error(`--${k}: ${v} is not a positive whole number`);
    process.exit(2);
  }
  options[k] = typeof v === 'string' ? n : v;
}

/** Cleanups of the benchmark that runs now, also run on Ctrl-C. */
let cleanups: Array<() => unknown> = [];
async function runCleanups(): Promise<void> {
  for (const f of cleanups.reverse()) {
    try {
      await f();
    } catch (e) {
      console.error(`cleanup: ${(e as Error).message}`);
    }
  }
  cleanups = [];
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: removing what the benchmark made`);
    void runCleanups().then(() => process.exit(130));
  });
}

const host = { cores: os.cpus().length, memoryBytes: os.totalmem(), kernel: os.release(), node: process.version };
const results = new URL('../../bench/results/', import.meta.url);
mkdirSync(results, { recursive: true });
const summaries: string[] = [];
let failed = 0;
for (const name of positionals.length > 0 ? positionals : Object.keys(benchmarks)) {
  console.log(`\n== ${name}`);
  const ctx: BenchContext = { options, defer: (f) => void cleanups.push(f), log: (line) => console.log(`  ${line}`) };
  const started = Date.now();
  try {
    const outcome = await (await benchmarks[name]!.load())(ctx);
    // a run on a pool of its own choosing keeps its results beside the default run's
    const file = options.pool ? `${name}-${options.pool}.json` : `${name}.json`;
    const pool = options.pool ? { pool: options.pool } : {};
    writeFileSync(new URL(file, results), `${JSON.stringify({ benchmark: name, ...pool, date: new Date().toISOString(), host, seconds: (Date.now() - started) / 1000, ...outcome.result, summary: outcome.summary }, null, 2)}\n`);
    summaries.push(`${name}${options.pool ? ` (${options.pool} pool)` : ''}: ${outcome.summary}`);
  } catch (e) {
    failed++;
    console.error(`${name} failed: ${(e as Error).stack ?? e}`);
    summaries.push(`${name}: FAILED: ${(e as Error).message.split('\n')[0]}`);
  } finally {
    await runCleanups();
  }
}
console.log(`\n== summary (bench/results/)\n${summaries.join('\n')}`);
process.exitCode = failed > 0 ? 1 : 0;
