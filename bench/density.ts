/**
 * @module density: N system containers (--count, default 2000) of the busybox image at
 * once, each with its own overlay root, network namespace, veth on a Lodge network and
 * cgroup, launched through the API a few at a time; then `lodge list`, and all deleted,
 * checking that nothing is left. Reports wall times, launches per second, host memory per
 * guest (MemTotal-MemAvailable, Slab, PageTables, KernelStack), the PSS of the guests'
 * own processes and of lodge-shim, lodged's RSS. Against raw runc for the same N (one
 * bundle, a network namespace each, no veth), and LXD for --lxd-count (200) containers
 * launched as many at a time, without NICs. Runs inside a network namespace of its own.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { lodgeBin } from '../test/system/harness.js';
import { pool, privateDaemon, type Benchmark } from './bench.js';
import { parentPid, pssKb, settledMeminfo } from './proc.js';
import { lxd } from './peers.js';
import { rawRunc } from './raw-runc.js';
import { showSteps, stepMedians, timed } from './stats.js';
import type { Operation } from '../src/api/operations.js';

const used = (m: Record<string, number>) => m.MemTotal! - m.MemAvailable!;

function memoryDelta(before: Record<string, number>, after: Record<string, number>, count: number) {
  const per = (k: string) => (after[k]! - before[k]!) / count / 2 ** 20;
  return { usedMb: (used(after) - used(before)) / count / 2 ** 20, slabMb: per('Slab'), pageTablesMb: per('PageTables'), kernelStackMb: per('KernelStack') };
}

const perBridge = 1000;
const width = 8;

export const density: Benchmark = async (ctx) => {
  const count = ctx.options.count ?? 2000;
  const d = await privateDaemon(ctx, { netns: true });
  const names = Array.from({ length: count }, (_, i) => `d${i}`);
  // a bridge takes at most 1024 ports: a network (a /22) for every thousand guests
  const networks = Array.from({ length: Math.ceil(count / perBridge) }, (_, i) => `dense${i}`);
  for (const [i, n] of networks.entries()) await d.client.networks.create({ name: n, subnet: `10.${100 + i}.0.0/22` });
  await d.launch('warmup', { networks: [] });
  await d.done(await d.client.guests.delete('warmup', true));

  ctx.log(`launching ${count} containers, ${width} at a time, on ${networks.length} network(s)`);
  const before = settledMeminfo();
  const launches: Operation[] = [];
  const launchMs = await timed(() =>
    pool(names, width, async (name) => {
      const i = Number(name.slice(1));
      launches.push(await d.done(await d.client.guests.launch({ name, image: 'busybox', networks: [{ network: networks[Math.floor(i / perBridge)]! }] })));
      if (launches.length % 250 === 0) ctx.log(`${launches.length} running`);
    }),
  );
  // where a launch's time goes with few guests and with nearly all of them
  const tenth = Math.max(1, Math.floor(count / 10));
  const launchSteps = { first: stepMedians(launches.slice(0, tenth)), last: stepMedians(launches.slice(-tenth)) };
  ctx.log(`a launch among the first ${tenth}: ${showSteps(launchSteps.first)}`);
  ctx.log(`a launch among the last ${tenth}: ${showSteps(launchSteps.last)}`);
  const guests = await d.client.guests.list();
  const running = guests.filter((g) => g.state === 'running').length;
  if (running !== count) throw new Error(`${running} of ${count} guests run`);
  const after = settledMeminfo();

  // the guests' own processes (their cgroups) and their lodge-shims
  let guestPssKb = 0;
  let shimPssKb = 0;
  for (const name of names) {
    const pid = (await d.client.guests.get(name)).pid!;
    const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1] === 'memory')!.split(':')[2]!;
    for (const p of readFileSync(`/sys/fs/cgroup/memory${cgroup}/cgroup.procs`, 'utf8').split('\n').filter(Boolean)) guestPssKb += pssKb(Number(p));
    shimPssKb += pssKb(parentPid(pid));
  }
  const memory = memoryDelta(before, after, count);
  const guestPssMb = guestPssKb / count / 1024;
  const shimPssMb = shimPssKb / count / 1024;
  const lodgedRssMb = rssMb(d.pid!);
  const listCliMs = await timed(() => {
    const r = spawnSync(lodgeBin, ['list'], { env: { ...process.env, LODGE_SOCKET: d.socket }, maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`lodge list: ${r.stderr}`);
  });
  const listApiMs = await timed(() => d.client.guests.list());
  ctx.log(`launched ${count} in ${(launchMs / 1000).toFixed(1)} s (${((count / launchMs) * 1000).toFixed(1)}/s)`);
  ctx.log(`host memory per guest ${memory.usedMb.toFixed(2)} MB (slab ${memory.slabMb.toFixed(2)}, page tables ${memory.pageTablesMb.toFixed(2)}, kernel stacks ${memory.kernelStackMb.toFixed(2)}); guests' own processes ${guestPssMb.toFixed(2)} MB PSS, lodge-shim ${shimPssMb.toFixed(2)} MB PSS`);
  ctx.log(`lodged RSS ${lodgedRssMb.toFixed(0)} MB; lodge list ${listCliMs.toFixed(0)} ms (API ${listApiMs.toFixed(0)} ms)`);

  ctx.log(`deleting ${count}`);
  const deletes: Operation[] = [];
  const deleteMs = await timed(() => pool(names, width, async (name) => deletes.push(await d.done(await d.client.guests.delete(name, true)))));
  const deleteSteps = { first: stepMedians(deletes.slice(0, tenth)), last: stepMedians(deletes.slice(-tenth)) };
  ctx.log(`a delete among the first ${tenth}: ${showSteps(deleteSteps.first)}`);
  ctx.log(`a delete among the last ${tenth}: ${showSteps(deleteSteps.last)}`);
  const leftovers = [
    ...d.inNetns(['ip', '-o', 'link', 'show']).stdout.split('\n').filter((l) => l.includes(`lv${d.instance}`)),
    ...d.runtimeContainers(),
    ...d.mounts(),
    ...d.cgroups(),
  ];
  ctx.log(`deleted in ${(deleteMs / 1000).toFixed(1)} s; left behind: ${leftovers.length === 0 ? 'nothing' : leftovers.slice(0, 5).join(', ')}`);

  // raw runc: a network namespace each (no veth), a process that sleeps
  const runc = rawRunc(ctx, d.dir, path.join(d.stateDir, 'images/busybox/rootfs'), ['/bin/sleep', '1000000']);
  ctx.log(`raw runc: ${count} containers, one after another`);
  const rawBefore = settledMeminfo();
  const rawLaunchMs = await timed(() => {
    for (const name of names) runc('run', '--detach', '--bundle', runc.bundle, name);
  });
  const rawMemory = memoryDelta(rawBefore, settledMeminfo(), count);
  const rawDeleteMs = await timed(() => names.forEach((name) => runc('delete', '--force', name)));
  ctx.log(`raw runc: ${(rawLaunchMs / 1000).toFixed(1)} s to start, ${rawMemory.usedMb.toFixed(2)} MB per container, ${(rawDeleteMs / 1000).toFixed(1)} s to delete`);

  // a peer that fails says so; Lodge's figures stand
  const lxdResult = ctx.options['no-peers']
    ? undefined
    : await lxdDensity(ctx, d.dir, path.join(d.stateDir, 'images/busybox/rootfs')).catch((e: Error) => {
        ctx.log(`lxd: failed: ${e.message}`);
        return { failed: e.message };
      });

  const beyondGuests = memory.usedMb - guestPssMb;
  return {
    summary:
      `${count} cts in ${(launchMs / 1000).toFixed(1)} s (target 120; raw runc ${(rawLaunchMs / 1000).toFixed(1)} s), ` +
      `${beyondGuests.toFixed(2)} MB/guest beyond its processes (target 2; raw runc ${rawMemory.usedMb.toFixed(2)}), lodged ${lodgedRssMb.toFixed(0)} MB (target 300), ` +
      `lodge list ${listCliMs.toFixed(0)} ms (target 1000), delete ${(deleteMs / 1000).toFixed(1)} s (target 120), ${leftovers.length} left` +
      (lxdResult && 'count' in lxdResult ? `; LXD ${lxdResult.count} in ${lxdResult.launchSeconds.toFixed(1)} s, ${lxdResult.memoryPerGuestMb.usedMb.toFixed(1)} MB/guest` : lxdResult ? '; LXD failed' : ''),
    result: {
      count,
      networks: networks.length,
      concurrency: width,
      launchSeconds: launchMs / 1000,
      launchesPerSecond: (count / launchMs) * 1000,
      launchSteps,
      memoryPerGuestMb: memory,
      guestProcessesPssMbPerGuest: guestPssMb,
      memoryBeyondGuestProcessesMbPerGuest: beyondGuests,
      shimPssMbPerGuest: shimPssMb,
      lodgedRssMb,
      listCliMs,
      listApiMs,
      deleteSeconds: deleteMs / 1000,
      deleteSteps,
      leftovers,
      rawRunc: { launchSeconds: rawLaunchMs / 1000, memoryPerGuestMb: rawMemory, deleteSeconds: rawDeleteMs / 1000 },
      ...(lxdResult ? { lxd: lxdResult } : {}),
    },
  };
};

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** LXD: N containers of the same rootfs, `width` launches at a time; memory per guest, its daemon's growth, the time to delete them. */
async function lxdDensity(ctx: Parameters<Benchmark>[0], dir: string, rootfs: string) {
  const count = Number(ctx.options['lxd-count'] ?? 200);
  const peer = lxd(ctx, path.join(dir, 'lxd'), rootfs);
  if (!peer.available) {
    ctx.log(`lxd: not compared: ${peer.why}`);
    return undefined;
  }
  const { argv, image, pid } = peer.peer;
  // stdin closed: lxc launch reads an instance configuration from a stdin that is not a terminal
  const lxc = (...args: string[]) =>
    new Promise<void>((resolve, reject) => {
      const [file, ...rest] = argv(...args);
      const child = spawn(file!, rest, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('error', reject);
      child.on('close', (code, signal) => (code === 0 ? resolve() : reject(new Error(`lxc ${args.join(' ')}: ${signal ? `killed by ${signal}` : `exit code ${code}`}: ${stderr.trim().slice(-1000)}`))));
    });
  const names = Array.from({ length: count }, (_, i) => `x${i}`);
  ctx.log(`lxd: ${count} containers, ${width} at a time`);
  const before = settledMeminfo();
  const daemonBeforeMb = rssMb(pid);
  const launchMs = await timed(() => pool(names, width, (name) => lxc('launch', image, name)));
  const memory = memoryDelta(before, settledMeminfo(), count);
  const daemonAfterMb = rssMb(pid);
  const deleteMs = await timed(() => pool(names, width, (name) => lxc('delete', '--force', name)));
  ctx.log(`lxd: ${(launchMs / 1000).toFixed(1)} s to launch, ${memory.usedMb.toFixed(2)} MB per container, its daemon ${daemonBeforeMb.toFixed(0)} -> ${daemonAfterMb.toFixed(0)} MB, ${(deleteMs / 1000).toFixed(1)} s to delete`);
  return { count, launchSeconds: launchMs / 1000, memoryPerGuestMb: memory, daemonRssMb: { before: daemonBeforeMb, after: daemonAfterMb }, deleteSeconds: deleteMs / 1000 };
}
