/**
 * @module vm-boot and pv-boot, the benchmarks of kinds that boot a kernel: time from
 * `lodge launch` to the shell prompt on the console, against the same engine command line
 * (its own disk and sockets) run by hand, alternated (A B A B ...); also the engine's and
 * lodge-shim's memory per guest.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import type { GuestKind } from '../src/api/common.js';
import { guestPid, hostCgroup, lodgeBin, TestDaemon } from '../test/system/harness.js';
import { privateDaemon, type Benchmark } from './bench.js';
import { parentPid, pssKb } from './proc.js';
import { compare, elapsedMs, series, showComparison } from './stats.js';

const prompt = /:\/[#$] /;

async function lodgeBoot(d: TestDaemon, kind: GuestKind, name: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  // the CLI as installed: its own shebang, not `node FILE`
  const launch = spawnSync(lodgeBin, ['launch', 'busybox', name, '--kind', kind], { env: { ...process.env, LODGE_SOCKET: d.socket }, encoding: 'utf8' });
  if (launch.status !== 0) throw new Error(launch.stderr);
  // the live console from now on, and what it showed before (through the API: a second CLI run would be the benchmark's cost, not the guest's)
  const ws = new WebSocket(d.client.guests.consoleUrl(name));
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (b: Buffer) => {
      seen += b.toString();
      if (prompt.test(seen)) resolve();
    });
    ws.on('error', reject);
    ws.on('open', () =>
      d.client.guests.consoleLog(name).then((log) => {
        seen = log + seen;
        if (prompt.test(seen)) resolve();
      }, reject),
    );
  });
  ws.close();
  return elapsedMs(t0);
}

async function rawBoot(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = process.hrtime.bigint();
  const engine = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env });
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

interface BootBench {
  kind: GuestKind;
  /** The engine argv Lodge used, made private for run `i` (its own disk, sockets); `dir` is scratch space. */
  rawArgv: (lodgeArgv: string[], i: number, dir: string) => string[];
  /** Removes what rawArgv made for run `i`. */
  rawCleanup: (i: number, dir: string) => void;
}

function bootBench(b: BootBench): Benchmark {
  return async (ctx) => {
    const runs = ctx.options.runs ?? 7;
    const d = await privateDaemon(ctx);
    // one launch first: it makes the image's base disk (and the kernel, for vm), which is not what is measured
    await lodgeBoot(d, b.kind, 'warmup');
    const pid = await guestPid(d, 'warmup');
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    // and its environment (a pv engine's has lodge-uml-xstate.so preloaded)
    const env = Object.fromEntries(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)]));
    const procs = readFileSync(`${hostCgroup(pid, 'memory')}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number);
    const enginePssMb = procs.reduce((sum, p) => sum + pssKb(p), 0) / 1024;
    const shimPssMb = pssKb(parentPid(pid)) / 1024;
    await d.done(await d.client.guests.delete('warmup', true));

    const lodge: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < runs; i++) {
      lodge.push(await lodgeBoot(d, b.kind, `g${i}`));
      await d.done(await d.client.guests.delete(`g${i}`, true));
      raw.push(await rawBoot(b.rawArgv(argv, i, d.dir), env));
      b.rawCleanup(i, d.dir);
    }
    const boot = compare(series(`lodge launch --kind ${b.kind} to the shell prompt`, 'ms', lodge), series(`${path.basename(argv[0]!)} by hand to the shell prompt`, 'ms', raw));
    ctx.log(showComparison(boot));
    ctx.log(`per guest: ${path.basename(argv[0]!)} ${enginePssMb.toFixed(0)} MB PSS, lodge-shim ${shimPssMb.toFixed(1)} MB PSS`);
    return {
      summary: `launch to prompt ${boot.lodge.median.toFixed(0)} ms against ${boot.against.median.toFixed(0)} ms by hand: ratio ${boot.ratio.toFixed(2)} (target 1.10)`,
      result: { boot, enginePssMbPerGuest: enginePssMb, shimPssMbPerGuest: shimPssMb, lodgeOverheadMs: boot.lodge.median - boot.against.median },
    };
  };
}

const rmForce = (file: string) => rmSync(file, { recursive: true, force: true });

export const pvBoot = bootBench({
  kind: 'pv',
  // its own COW file and umid
  rawArgv: (argv, i, dir) =>
    argv.map((a) =>
      a.startsWith('ubd0=') ? `ubd0=${path.join(dir, `raw${i}.cow`)},${a.split(',')[1]}` : a.startsWith('uml_dir=') ? `uml_dir=${dir}` : a.startsWith('umid=') ? `umid=raw${i}` : a,
    ),
  rawCleanup: (i, dir) => {
    rmForce(path.join(dir, `raw${i}.cow`));
    rmForce(path.join(dir, `raw${i}`));
  },
});

export const vmBoot = bootBench({
  kind: 'vm',
  rawArgv: (argv, i, dir) => {
    const overlay = path.join(dir, `raw${i}.qcow2`);
    // the same base Lodge's overlays stand on (the harness keeps its state in DIR/state)
    const backing = path.join(dir, 'state/images/busybox/rootfs.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', backing, overlay]);
    // its own disk, QMP and VNC sockets; everything else as Lodge ran it
    const own: Record<string, (a: string) => string> = {
      '-drive': (a) => (a.includes('id=root') ? a.replace(/^file=[^,]+/, `file=${overlay}`) : a),
      '-qmp': () => `unix:${path.join(dir, `raw${i}.qmp`)},server=on,wait=off`,
      '-vnc': () => `unix:${path.join(dir, `raw${i}.vnc`)}`,
    };
    return argv.map((a, j) => own[argv[j - 1]!]?.(a) ?? a);
  },
  rawCleanup: (i, dir) => {
    for (const f of [`raw${i}.qcow2`, `raw${i}.qmp`, `raw${i}.vnc`]) rmForce(path.join(dir, f));
  },
});
