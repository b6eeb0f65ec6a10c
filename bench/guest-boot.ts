/**
 * @module The boot benchmark of kinds that boot a kernel (pv, vm): time from launch to
 * the shell prompt on the console, Lodge against the same engine command line run by
 * hand, alternated (A B A B ...); also the engine's and lodge-shim's memory per guest.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import WebSocket from 'ws';
import type { GuestKind } from '../src/api/common.js';
import { guestPid, hostCgroup, TestDaemon } from '../test/system/harness.js';
import { elapsedMs, median, report, series } from './stats.js';

const prompt = /:\/[#$] /;

function pssKb(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function lodgeBoot(d: TestDaemon, kind: GuestKind, name: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const launch = d.lodge(['launch', 'busybox', name, '--kind', kind]);
  if (launch.code !== 0) throw new Error(launch.stderr);
  const ws = new WebSocket(d.client.guests.consoleUrl(name));
  let seen = d.lodge(['console', name, '--log']).stdout;
  await new Promise<void>((resolve) => {
    if (prompt.test(seen)) return resolve();
    ws.on('message', (b: Buffer) => {
      seen += b.toString();
      if (prompt.test(seen)) resolve();
    });
  });
  ws.close();
  return elapsedMs(t0);
}

async function rawBoot(argv: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const engine = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    engine.stdout.on('data', (b: Buffer) => {
      seen += b.toString();
      if (prompt.test(seen)) resolve();
    });
    engine.on('exit', () => reject(new Error(`${argv[0]} ended before its prompt: ${seen.slice(-500)}`)));
  });
  const ms = elapsedMs(t0);
  engine.removeAllListeners('exit');
  process.kill(-engine.pid!, 'SIGKILL');
  await new Promise((r) => engine.once('exit', r));
  return ms;
}

export interface BootBench {
  kind: GuestKind;
  runs: number;
  /** The engine argv Lodge used, made private for run `i` (its own disk, sockets); `dir` is scratch space. */
  rawArgv: (lodgeArgv: string[], i: number, dir: string) => string[];
  /** Removes what rawArgv made for run `i`. */
  rawCleanup: (i: number, dir: string) => void;
}

export async function benchBoot(b: BootBench): Promise<void> {
  const d = new TestDaemon();
  try {
    await d.start();
    await d.buildBusybox();
    // one launch first: it makes the image's base disk (and the kernel, for vm), which is not what is measured
    await lodgeBoot(d, b.kind, 'warmup');
    const pid = await guestPid(d, 'warmup');
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const procs = readFileSync(`${hostCgroup(pid, 'memory')}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number);
    const enginePss = procs.reduce((sum, p) => sum + pssKb(p), 0) / 1024;
    const shimPid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    const shimPss = pssKb(shimPid) / 1024;
    await d.done(await d.client.guests.delete('warmup', true));

    const lodge: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < b.runs; i++) {
      lodge.push(await lodgeBoot(d, b.kind, `g${i}`));
      await d.done(await d.client.guests.delete(`g${i}`, true));
      raw.push(await rawBoot(b.rawArgv(argv, i, d.dir)));
      b.rawCleanup(i, d.dir);
    }
    report(`${b.kind}-boot`, series(`lodge launch --kind ${b.kind} to the shell prompt`, lodge), series(`${argv[0]} by hand to the shell prompt`, raw), b.runs, {
      enginePssMbPerGuest: enginePss,
      shimPssMbPerGuest: shimPss,
      lodgeOverheadMs: median(lodge) - median(raw),
    });
  } finally {
    await d.cleanup();
  }
}

export const rmForce = (file: string) => rmSync(file, { recursive: true, force: true });
