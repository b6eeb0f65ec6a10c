/**
 * @module autonomic: the memory balancing of the autonomic loop against the same workload
 * with the loop paused. Six busybox guests of mixed kinds on a private lodged whose guest
 * memory budget (--budget-mb, 1280) their ceilings overcommit: two idle (a ct, a pv), two that
 * spin on CPU (a ct, a pv), two that grow their memory (a ct, a vm: --kinds ct,pv leaves the vm
 * out). Each run launches them in the same order with the loop on, so each holds the share the
 * loop gave it at its start, and waits for the allocations to settle; then the loop is paused
 * (run "paused") or left on (run "on"), and all six work at once: the growers write files on a
 * tmpfs of their own (memory nothing can reclaim without swap) to --grow-mb (96) past the
 * share they were given, the spinners count to --spin (4,000,000) in their shell. Reported side
 * by side: each grower's OOM kills (cgroup v1's memory.oom_control, or the vm guest's
 * /proc/vmstat), whether it wrote everything, how long it took, its stalls on memory as cgroup
 * v1 gives them (failcnt of memory and memsw: times a charge hit its limit and had to reclaim or
 * fail; pgmajfault: faults that waited on a disk), and the spinners' times.
 */
import type { GuestKind } from '../src/api/common.js';
import type { GuestsPost } from '../src/api/guests.js';
import { LodgeError } from '../src/api/errors.js';
import { guestPid, hostCgroup, TestDaemon } from '../test/system/harness.js';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Benchmark, BenchContext } from './bench.js';
import { elapsedMs } from './stats.js';

const M = 1024 * 1024;

interface Role {
  name: string;
  kind: GuestKind;
  role: 'idle' | 'spin' | 'grow';
  limits: NonNullable<GuestsPost['limits']>;
}

/** In launch order: the idle and the spinners first, so that the growers come to an overcommitted budget and get a share. */
function roles(kinds: readonly GuestKind[]): Role[] {
  const all: Role[] = [
    { name: 'idle-ct', kind: 'ct', role: 'idle', limits: { memory: '1G', memoryFloor: '32M' } },
    { name: 'idle-pv', kind: 'pv', role: 'idle', limits: { memory: '128M' } },
    { name: 'spin-ct', kind: 'ct', role: 'spin', limits: { memory: '64M' } },
    { name: 'spin-pv', kind: 'pv', role: 'spin', limits: { memory: '128M' } },
    { name: 'grow-ct', kind: 'ct', role: 'grow', limits: { memory: '512M', memoryFloor: '64M' } },
    { name: 'grow-vm', kind: 'vm', role: 'grow', limits: { memory: '512M', memoryFloor: '128M' } },
  ];
  return all.filter((r) => kinds.includes(r.kind));
}

async function sh(d: TestDaemon, name: string, script: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  for (let i = 0; ; i++) {
    try {
      return await d.client.guests.exec(name, { command: ['sh', '-c', script] });
    } catch (e) {
      // a guest that has just booted has no agent yet
      if (i >= 60 || !(e instanceof LodgeError) || e.code === 'BAD_REQUEST') throw e;
      await sleep(1000);
    }
  }
}

const keyed = (text: string, key: string) => Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);

/** What a grower's memory has been through: OOM kills, times at its limit, major faults. */
async function memoryCounters(d: TestDaemon, r: Role): Promise<{ oomKills: number; failcnt?: number; pgmajfault: number }> {
  if (r.kind === 'ct') {
    const dir = hostCgroup(await guestPid(d, r.name), 'memory');
    const file = (f: string) => readFileSync(`${dir}/${f}`, 'utf8');
    // with memsw limited as memory is (no swap given), the memsw counter is the one that fails first
    const failcnt = Number(file('memory.failcnt').trim()) + Number(file('memory.memsw.failcnt').trim());
    return { oomKills: keyed(file('memory.oom_control'), 'oom_kill'), failcnt, pgmajfault: keyed(file('memory.stat'), 'total_pgmajfault') };
  }
  const vmstat = (await sh(d, r.name, 'cat /proc/vmstat')).stdout;
  return { oomKills: keyed(vmstat, 'oom_kill'), pgmajfault: keyed(vmstat, 'pgmajfault') };
}

/** Waits until the loop has made no memory move for 3 s (at most 60 s). */
async function settled(d: TestDaemon): Promise<void> {
  const deadline = Date.now() + 60_000;
  let quietSince = Date.now();
  let count = -1;
  while (Date.now() < deadline) {
    const n = (await d.client.autonomic.log(1000)).filter((o) => o.action === 'autonomic.memory').length;
    if (n !== count) [count, quietSince] = [n, Date.now()];
    if (Date.now() - quietSince >= 3000) return;
    await sleep(250);
  }
}

async function allocation(d: TestDaemon, name: string): Promise<number | undefined> {
  return (await d.client.autonomic.status()).memory?.guests.find((g) => g.name === name)?.allocationBytes;
}

interface GrowerResult {
  name: string;
  kind: GuestKind;
  givenMb: number;
  targetMb: number;
  wroteAll: boolean;
  seconds: number;
  oomKills: number;
  failcnt?: number;
  pgmajfault: number;
  finalAllocationMb?: number;
}

export const autonomic: Benchmark = async (ctx) => {
  const kinds = String(ctx.options.kinds ?? 'ct,pv,vm').split(',') as GuestKind[];
  const budgetMb = Number(ctx.options['budget-mb'] ?? 1280);
  const results: Record<string, unknown> = {};
  for (const loop of ['paused', 'on'] as const) {
    const run = await runWorkload(ctx, loop, budgetMb, kinds);
    results[loop] = run;
  }
  const rows = ['paused', 'on'].map((loop) => results[loop] as Awaited<ReturnType<typeof runWorkload>>);
  ctx.log('');
  ctx.log(`${'figure'.padEnd(44)}${'loop paused'.padStart(14)}${'loop on'.padStart(14)}`);
  const line = (label: string, f: (r: (typeof rows)[number]) => string) => ctx.log(`${label.padEnd(44)}${f(rows[0]!).padStart(14)}${f(rows[1]!).padStart(14)}`);
  for (const g of rows[0]!.growers.map((x) => x.name)) {
    const of = (r: (typeof rows)[number]) => r.growers.find((x) => x.name === g)!;
    line(`${g}: given at start / grew to (MiB)`, (r) => `${of(r).givenMb} / ${of(r).targetMb}`);
    line(`${g}: OOM kills`, (r) => String(of(r).oomKills));
    line(`${g}: wrote everything`, (r) => (of(r).wroteAll ? 'yes' : 'no'));
    line(`${g}: growth time (s)`, (r) => of(r).seconds.toFixed(1));
    if (of(rows[0]!).failcnt !== undefined) line(`${g}: times at its limit (failcnt)`, (r) => String(of(r).failcnt ?? '-'));
    line(`${g}: major faults (pgmajfault)`, (r) => String(of(r).pgmajfault));
    line(`${g}: allocation at the end (MiB)`, (r) => String(of(r).finalAllocationMb ?? '-'));
  }
  for (const s of rows[0]!.spinners.map((x) => x.name)) {
    line(`${s}: spin time (s)`, (r) => r.spinners.find((x) => x.name === s)!.seconds.toFixed(2));
  }
  const kills = (r: (typeof rows)[number]) => r.growers.reduce((a, g) => a + g.oomKills, 0);
  const spinSum = (r: (typeof rows)[number]) => r.spinners.reduce((a, s) => a + s.seconds, 0);
  const summary = `growers' OOM kills ${kills(rows[0]!)} paused, ${kills(rows[1]!)} on; spinners ${spinSum(rows[0]!).toFixed(1)} s paused, ${spinSum(rows[1]!).toFixed(1)} s on (sum)`;
  return { summary, result: { budgetMb, kinds, ...results } };
};

/** One run: the six launched and settled, the loop paused or not, then all of them at work at once. */
async function runWorkload(ctx: BenchContext, loop: 'paused' | 'on', budgetMb: number, kinds: readonly GuestKind[]) {
  // a lodged of each run's own, removed when the run ends (or the benchmark is interrupted)
  const d = new TestDaemon({ args: ['--guest-memory', `${budgetMb}M`] });
  let removed = false;
  const remove = async () => {
    if (removed) return;
    removed = true;
    await d.cleanup();
  };
  ctx.defer(remove);
  await d.start();
  await d.buildBusybox();
  try {
    const guests = roles(kinds);
    for (const r of guests) {
      await d.launch(r.name, { kind: r.kind, limits: r.limits, networks: [] });
    }
    // a vm's balloon reports once its guest runs: its agent answering shows it booted
    for (const r of guests) await sh(d, r.name, 'true');
    await settled(d);
    const given = (await d.client.autonomic.status()).memory?.guests ?? [];
    ctx.log(`${loop}: launched; allocations: ${given.map((g) => `${g.name} ${g.allocationBytes !== undefined ? Math.round(g.allocationBytes / M) : '-'}M`).join(', ')}`);
    if (loop === 'paused') await d.client.autonomic.pause();
    const growMb = Number(ctx.options['grow-mb'] ?? 96);
    const spin = Number(ctx.options.spin ?? 4_000_000);
    const spinners = guests
      .filter((r) => r.role === 'spin')
      .map(async (r) => {
        const t0 = process.hrtime.bigint();
        const out = await sh(d, r.name, `i=0; while [ $i -lt ${spin} ]; do i=$((i+1)); done; echo $i`);
        if (out.exitCode !== 0 || out.stdout.trim() !== String(spin)) throw new Error(`${r.name} did not count to ${spin}: ${out.stderr}`);
        return { name: r.name, kind: r.kind, seconds: elapsedMs(t0) / 1000 };
      });
    const growers = guests.filter((r) => r.role === 'grow').map((r) => grow(d, r, growMb));
    const result = { growers: await Promise.all(growers), spinners: await Promise.all(spinners) };
    const moves = (await d.client.autonomic.log(1000)).filter((o) => o.action === 'autonomic.memory');
    ctx.log(`${loop}: ${moves.length} memory moves in all; the last: ${moves[0]?.reason ?? '-'}`);
    return { ...result, moves: moves.length };
  } finally {
    await remove();
  }
}

/** Writes `growMb` past what the guest was given onto a tmpfs: the first part at once, the last 2 × growMb in 4 MiB steps every 250 ms. */
async function grow(d: TestDaemon, r: Role, growMb: number): Promise<GrowerResult> {
  const givenMb = Math.round(((await allocation(d, r.name)) ?? 0) / M);
  const before = await memoryCounters(d, r);
  const targetMb = givenMb + growMb;
  const fast = Math.max(0, targetMb - 2 * growMb);
  const steps = Math.ceil((targetMb - fast) / 4);
  const total = fast + steps * 4;
  const script =
    `mkdir -p /hog && mount -t tmpfs -o size=${total + 64}m hog /hog && dd if=/dev/zero of=/hog/base bs=1M count=${fast} 2>/dev/null; ` +
    `i=0; while [ $i -lt ${steps} ]; do dd if=/dev/zero of=/hog/f$i bs=1M count=4 2>/dev/null || exit 9; i=$((i+1)); sleep 0.25; done; du -sm /hog`;
  const t0 = process.hrtime.bigint();
  const out = await sh(d, r.name, script).catch((e: Error) => ({ exitCode: -1, stdout: '', stderr: e.message }));
  const seconds = elapsedMs(t0) / 1000;
  const after = await memoryCounters(d, r).catch(() => undefined);
  const final = await allocation(d, r.name);
  return {
    name: r.name,
    kind: r.kind,
    givenMb,
    targetMb: total,
    wroteAll: out.exitCode === 0 && Number(/^(\d+)/.exec(out.stdout)?.[1]) >= total,
    seconds,
    // a guest that can no longer be asked (its agent killed with its writer) counts one kill
    oomKills: after ? after.oomKills - before.oomKills : 1,
    ...(after?.failcnt !== undefined && before.failcnt !== undefined ? { failcnt: after.failcnt - before.failcnt } : {}),
    pgmajfault: after ? after.pgmajfault - before.pgmajfault : NaN,
    ...(final !== undefined ? { finalAllocationMb: Math.round(final / M) } : {}),
  };
}
