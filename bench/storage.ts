/**
 * @module storage: the two pool types side by side, on which the default was chosen.
 *   (a) a container's launch (API, no NIC) and delete in a dir pool and in a btrfs pool,
 *       against runc create + start of the same rootfs (the engine's floor);
 *   (b) density: N containers (--count, default 50) launched into each pool: the time,
 *       the host's space and the loop devices they take;
 *   (c) a pv guest's launch to its first exec, and a vm guest's launch (not started), in each.
 * Runs alternate between the pools. Options: --runs N (10), --count N (50).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { PoolDriverName } from '../src/api/storage.js';
import type { TestDaemon } from '../test/system/harness.js';
import { pool as inParallel, privateDaemon, type Benchmark } from './bench.js';
import { rawRunc } from './raw-runc.js';
import { compare, series, show, showComparison, timed, type Comparison, type Series } from './stats.js';

const kinds: PoolDriverName[] = ['dir', 'btrfs'];
const mib = 1024 * 1024;

/** Bytes the host's filesystem gives to everything under `dir` (sparse files count what they hold). */
function hostBytes(dir: string): number {
  return Number(execFileSync('du', ['-sB1', dir]).toString().split('\t')[0]);
}

const loopDevices = () => execFileSync('losetup', ['-a']).toString().split('\n').filter(Boolean).length;

async function launchTime(d: TestDaemon, name: string, pool: string, extra: Record<string, unknown> = {}): Promise<number> {
  return timed(async () => d.done(await d.client.guests.launch({ name, image: 'busybox', pool, networks: [], ...extra }), 300));
}

export const storage: Benchmark = async (ctx) => {
  const runs = ctx.options.runs ?? 10;
  const count = ctx.options.count ?? 50;
  const d = await privateDaemon(ctx);
  for (const kind of kinds) await d.client.storage.create({ name: `b-${kind}`, driver: kind, volumeSize: '1G' });
  const rootfs = path.join(d.stateDir, 'images/busybox/rootfs');
  const runc = rawRunc(ctx, d.dir, rootfs, [(await d.client.images.get('busybox')).init]);
  // the image's shifted copy is made once, before anything is timed
  await launchTime(d, 'warmup', 'b-dir');
  await d.done(await d.client.guests.delete('warmup', true));

  ctx.log('(a) ct launch and delete per pool, against runc create + start');
  const times: Record<string, number[]> = { raw: [], 'dir launch': [], 'btrfs launch': [], 'dir delete': [], 'btrfs delete': [] };
  for (let i = 0; i < runs; i++) {
    for (const kind of kinds) {
      times[`${kind} launch`]!.push(await launchTime(d, `a-${kind}-${i}`, `b-${kind}`));
      times[`${kind} delete`]!.push(await timed(async () => d.done(await d.client.guests.delete(`a-${kind}-${i}`, true))));
    }
    times.raw!.push(
      await timed(() => {
        runc('create', '--bundle', runc.bundle, `raw${i}`);
        runc('start', `raw${i}`);
      }),
    );
    runc('delete', '--force', `raw${i}`);
  }
  const raw = series('runc create + runc start', 'ms', times.raw!);
  const launch: Record<string, Comparison> = {};
  const deletion: Record<string, Series> = {};
  for (const kind of kinds) {
    launch[kind] = compare(series(`ct launch in a ${kind} pool`, 'ms', times[`${kind} launch`]!), raw);
    deletion[kind] = series(`ct delete in a ${kind} pool`, 'ms', times[`${kind} delete`]!);
    ctx.log(showComparison(launch[kind]!));
    ctx.log(show(deletion[kind]!));
  }

  ctx.log(`(b) density: ${count} containers in each pool, 4 launches at a time`);
  const density: Record<string, { seconds: number; hostBytesPerGuest: number; loopDevicesPerGuest: number }> = {};
  for (const kind of kinds) {
    const poolInfo = await d.client.storage.get(`b-${kind}`);
    const where = kind === 'btrfs' ? poolInfo.source : poolInfo.path;
    const [bytes0, loops0] = [hostBytes(where), loopDevices()];
    const names = Array.from({ length: count }, (_, i) => `n-${kind}-${i}`);
    const ms = await timed(() => inParallel(names, 4, (name) => launchTime(d, name, `b-${kind}`)));
    execFileSync('sync');
    density[kind] = { seconds: ms / 1000, hostBytesPerGuest: (hostBytes(where) - bytes0) / count, loopDevicesPerGuest: (loopDevices() - loops0) / count };
    ctx.log(`${kind}: ${count} launched in ${(ms / 1000).toFixed(1)} s; ${(density[kind]!.hostBytesPerGuest / mib).toFixed(2)} MiB of host disk and ${density[kind]!.loopDevicesPerGuest} loop devices per guest`);
    await inParallel(names, 4, async (name) => d.done(await d.client.guests.delete(name, true), 300));
  }

  ctx.log('(c) a pv guest launched to its first exec, and a vm guest launched without starting, per pool');
  const boots: Record<string, { pv: Series; vm: Series }> = {};
  const guestRuns = Math.min(runs, 3);
  for (const kind of kinds) {
    const pv: number[] = [];
    const vm: number[] = [];
    for (let i = 0; i < guestRuns; i++) {
      pv.push(
        await timed(async () => {
          await launchTime(d, `p-${kind}-${i}`, `b-${kind}`, { kind: 'pv' });
          for (;;) {
            const r = await d.client.guests.exec(`p-${kind}-${i}`, { command: ['true'] }).catch(() => undefined);
            if (r?.exitCode === 0) break;
          }
        }),
      );
      vm.push(await launchTime(d, `v-${kind}-${i}`, `b-${kind}`, { kind: 'vm', start: false }));
      for (const name of [`p-${kind}-${i}`, `v-${kind}-${i}`]) await d.done(await d.client.guests.delete(name, true));
    }
    boots[kind] = { pv: series(`pv launch to exec in a ${kind} pool`, 'ms', pv), vm: series(`vm launch (not started) in a ${kind} pool`, 'ms', vm) };
    ctx.log(show(boots[kind]!.pv));
    ctx.log(show(boots[kind]!.vm));
  }

  const mibPerGuest = (kind: string) => (density[kind]!.hostBytesPerGuest / mib).toFixed(2);
  return {
    summary: [
      `ct launch dir ${launch.dir!.lodge.median.toFixed(0)} ms (ratio ${launch.dir!.ratio.toFixed(2)}), btrfs ${launch.btrfs!.lodge.median.toFixed(0)} ms (ratio ${launch.btrfs!.ratio.toFixed(2)}) against runc ${raw.median.toFixed(0)} ms`,
      `${count} ct: dir ${density.dir!.seconds.toFixed(1)} s and ${mibPerGuest('dir')} MiB each, btrfs ${density.btrfs!.seconds.toFixed(1)} s and ${mibPerGuest('btrfs')} MiB each`,
      `pv to exec dir ${boots.dir!.pv.median.toFixed(0)} ms, btrfs ${boots.btrfs!.pv.median.toFixed(0)} ms`,
    ].join('; '),
    result: { launch, deletion, density, boots },
  };
};
