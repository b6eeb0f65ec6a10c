/**
 * @module exec: a command's input and output through `lodge exec`, in one busybox container,
 * against `runc exec` of the same container (the engine alone) and `podman exec -i` of a
 * podman container of the same rootfs:
 *   (a) throughput: --megabytes (100) of random bytes into `cat` on stdin and out of it on
 *       stdout, counted on the far side;
 *   (b) latency: one line written to a shell's stdin until its echo comes back on stdout,
 *       over 50 lines in one exec (what streaming adds to each line);
 *   (c) a pv guest: the host CPU its processes use over 30 s idle, and `exec true` through its
 *       agent (API and CLI), against `runc exec true` in the container;
 *   (d) the pv guest and a vm (TCG) through lodge-execd: --guest-megabytes (10) through cat and
 *       a line's round trip, against runc exec in the container.
 * Runs alternate (lodge, runc, podman, ...). Options: --runs N (5), --megabytes N, --guest-megabytes N, --no-peers.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { cgroupCpuSeconds, hostCgroup, lodgeBin } from '../test/system/harness.js';
import { privateDaemon, type Benchmark } from './bench.js';
import { podman } from './peers.js';
import { compare, elapsedMs, median, series, show, showComparison, timed } from './stats.js';

/** Round trips of one line through `argv` (a command that echoes its input lines): each in ms. */
async function echoTimes(argv: string[], env: NodeJS.ProcessEnv, lines: number): Promise<number[]> {
  const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const times: number[] = [];
  let pending = '';
  let waiting: (() => void) | undefined;
  child.stdout.on('data', (b: Buffer) => {
    pending += b.toString();
    if (pending.includes('\n')) {
      pending = '';
      waiting?.();
    }
  });
  for (let i = 0; i < lines; i++) {
    const t0 = process.hrtime.bigint();
    await new Promise<void>((resolve) => {
      waiting = resolve;
      child.stdin.write(`line ${i}\n`);
    });
    times.push(elapsedMs(t0));
  }
  child.stdin.end();
  await new Promise((r) => child.on('close', r));
  return times;
}

/** `argv cat` with `input` (of `megabytes`) on its stdin, counted on its stdout: MB/s. */
async function throughCat(argv: string[], input: string, megabytes: number, env: NodeJS.ProcessEnv, side: string): Promise<number> {
  const q = (words: string[]) => words.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  let counted = '';
  const ms = await timed(() => {
    counted = spawnSync('sh', ['-c', `${q([...argv, 'cat'])} < ${q([input])} | wc -c`], { env, encoding: 'utf8' }).stdout.trim();
  });
  if (Number(counted) !== megabytes * 1024 * 1024) throw new Error(`${side}: ${counted} bytes came back, not ${megabytes} MB`);
  return (megabytes / ms) * 1000;
}

export const execBench: Benchmark = async (ctx) => {
  const runs = ctx.options.runs ?? 5;
  const megabytes = Number(ctx.options.megabytes ?? 100);
  const d = await privateDaemon(ctx);
  await d.launch('x1', { networks: [] });
  const [id] = d.runtimeContainers();
  const env = { ...process.env, LODGE_SOCKET: d.socket };
  const input = path.join(d.dir, 'input');
  writeFileSync(input, randomBytes(megabytes * 1024 * 1024));

  const pod = ctx.options['no-peers'] ? ({ available: false, why: '--no-peers' } as const) : podman(ctx, path.join(d.dir, 'podman'), path.join(d.stateDir, 'images/busybox/rootfs'));
  if (pod.available) {
    const argv = pod.peer.argv('run', '-d', '--name', 'p1', pod.peer.image, 'sleep', '1000000');
    if (spawnSync(argv[0]!, argv.slice(1)).status !== 0) throw new Error('podman run failed');
  } else ctx.log(`podman: not compared: ${pod.why}`);

  const sides = {
    lodge: [process.execPath, lodgeBin, 'exec', 'x1', '--'],
    runc: ['runc', '--root', path.join(d.stateDir, 'runtime'), 'exec', id!],
    ...(pod.available ? { podman: pod.peer.argv('exec', '-i', 'p1') } : {}),
  };
  ctx.log(`(a) ${megabytes} MB through cat: stdin in, stdout out`);
  const through: Record<string, number[]> = {};
  for (let i = 0; i < runs; i++) {
    for (const [side, argv] of Object.entries(sides)) (through[side] ??= []).push(await throughCat(argv, input, megabytes, env, side));
  }
  const mbps = (side: string) => series(`${side} exec cat`, 'MB/s', through[side]!);
  const throughput = compare(mbps('lodge'), mbps('runc'));
  ctx.log(showComparison(throughput));
  const throughputPodman = through.podman ? compare(mbps('lodge'), mbps('podman')) : undefined;
  if (throughputPodman) ctx.log(`${show(throughputPodman.against)}\nratio: ${throughputPodman.ratio.toFixed(2)}`);

  ctx.log('(b) a line through a shell and back, 50 lines an exec');
  const echo: Record<string, number[]> = {};
  for (let i = 0; i < runs; i++) {
    for (const [side, argv] of Object.entries(sides)) (echo[side] ??= []).push(...(await echoTimes([...argv, 'sh', '-c', 'while read l; do echo "$l"; done'], env, 50)));
  }
  const ms = (side: string) => series(`${side}: a line's round trip`, 'ms', echo[side]!);
  const latency = compare(ms('lodge'), ms('runc'));
  ctx.log(showComparison(latency));
  const latencyPodman = echo.podman ? compare(ms('lodge'), ms('podman')) : undefined;
  if (latencyPodman) ctx.log(`${show(latencyPodman.against)}\nratio: ${latencyPodman.ratio.toFixed(2)}`);

  ctx.log('(c) a pv guest: idle CPU over 30 s, exec true through its agent');
  await d.launch('p1', { kind: 'pv', networks: [] });
  for (let i = 0; i < 120 && spawnSync(process.execPath, [lodgeBin, 'exec', 'p1', '--', 'true'], { env }).status !== 0; i++) await new Promise((r) => setTimeout(r, 500));
  const cgroup = hostCgroup((await d.client.guests.get('p1')).pid!, 'pids');
  const cpu0 = cgroupCpuSeconds(cgroup);
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, 30_000));
  const idlePercent = ((cgroupCpuSeconds(cgroup) - cpu0) / (elapsedMs(t0) / 1000)) * 100;
  ctx.log(`pv guest idle: ${idlePercent.toFixed(2)} % of a core over 30 s`);
  const pvApi: number[] = [];
  const pvCli: number[] = [];
  const rawExec: number[] = [];
  for (let i = 0; i < runs * 4; i++) {
    pvApi.push(await timed(() => d.client.guests.exec('p1', { command: ['true'] })));
    pvCli.push(await timed(() => spawnSync(process.execPath, [lodgeBin, 'exec', 'p1', '--', 'true'], { env })));
    rawExec.push(await timed(() => spawnSync(sides.runc[0]!, [...sides.runc.slice(1), 'true'])));
  }
  const pvExec = compare(series('pv exec true (API)', 'ms', pvApi), series('runc exec true (ct)', 'ms', rawExec));
  ctx.log(showComparison(pvExec));
  ctx.log(show(series('lodge exec p1 -- true (CLI)', 'ms', pvCli)));

  const guestMegabytes = Number(ctx.options['guest-megabytes'] ?? 10);
  ctx.log(`(d) the pv guest and a vm through lodge-execd: ${guestMegabytes} MB through cat, a line's round trip`);
  await d.launch('v1', { kind: 'vm', networks: [] });
  for (let i = 0; i < 240 && spawnSync(process.execPath, [lodgeBin, 'exec', 'v1', '--', 'pidof', 'lodge-execd'], { env }).status !== 0; i++) await new Promise((r) => setTimeout(r, 500));
  const guestInput = path.join(d.dir, 'guest-input');
  writeFileSync(guestInput, randomBytes(guestMegabytes * 1024 * 1024));
  const guests = { pv: [process.execPath, lodgeBin, 'exec', 'p1', '--'], vm: [process.execPath, lodgeBin, 'exec', 'v1', '--'], runc: sides.runc };
  const guestThrough: Record<string, number[]> = {};
  const guestEcho: Record<string, number[]> = {};
  for (let i = 0; i < runs; i++) {
    for (const [side, argv] of Object.entries(guests)) {
      (guestThrough[side] ??= []).push(await throughCat(argv, guestInput, guestMegabytes, env, side));
      (guestEcho[side] ??= []).push(...(await echoTimes([...argv, 'sh', '-c', 'while read l; do echo "$l"; done'], env, 20)));
    }
  }
  const guestStreams = Object.fromEntries(
    (['pv', 'vm'] as const).map((kind) => {
      const throughputKind = compare(series(`${kind} exec cat`, 'MB/s', guestThrough[kind]!), series('runc exec cat', 'MB/s', guestThrough.runc!));
      const latencyKind = compare(series(`${kind}: a line's round trip`, 'ms', guestEcho[kind]!), series("runc: a line's round trip", 'ms', guestEcho.runc!));
      ctx.log(`${showComparison(throughputKind)}\n${showComparison(latencyKind)}`);
      return [kind, { throughput: throughputKind, latency: latencyKind }];
    }),
  );

  const mb = (xs: number[]) => median(xs).toFixed(0);
  return {
    summary:
      `${megabytes} MB through cat: lodge ${mb(through.lodge!)} MB/s, runc ${mb(through.runc!)} MB/s` +
      (through.podman ? `, podman ${mb(through.podman)} MB/s` : `, podman not compared`) +
      `; a line's round trip: lodge ${median(echo.lodge!).toFixed(2)} ms, runc ${median(echo.runc!).toFixed(2)} ms` +
      (echo.podman ? `, podman ${median(echo.podman).toFixed(2)} ms` : '') +
      `; pv guest idle ${idlePercent.toFixed(2)} % of a core, its exec ${median(pvApi).toFixed(0)} ms (API), ${median(pvCli).toFixed(0)} ms (CLI)` +
      `; through lodge-execd ${guestMegabytes} MB: pv ${median(guestThrough.pv!).toFixed(1)} MB/s, vm ${median(guestThrough.vm!).toFixed(1)} MB/s (runc ${mb(guestThrough.runc!)}), a line: pv ${median(guestEcho.pv!).toFixed(2)} ms, vm ${median(guestEcho.vm!).toFixed(2)} ms`,
    result: { throughput, latency, pvIdlePercent: idlePercent, pvExec, guestStreams, ...(throughputPodman ? { throughputPodman } : {}), ...(latencyPodman ? { latencyPodman } : {}) },
  };
};
