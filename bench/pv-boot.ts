/**
 * bench/pv-boot: time from launch to the shell prompt on the console of a pv guest,
 * Lodge against the same linux.uml command run by hand, alternated (A B A B ...).
 *   Lodge: `lodge launch busybox NAME --kind pv`, then its console until the prompt
 *   raw:   linux.uml with the argv Lodge used (own COW file), its stdout until the prompt
 * Also the memory per guest: PSS of the guest's UML processes and of its lodge-shim.
 * Usage: npm run bench:pv-boot [-- --runs N]
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { guestPid, hostCgroup, TestDaemon } from '../test/system/harness.js';
import { elapsedMs, median, report, series } from './stats.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' } } });
const runs = Number(values.runs);
const prompt = /:\/[#$] /;

function pssKb(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Launches through Lodge and returns the ms until the console shows a prompt. */
async function lodgeBoot(d: TestDaemon, name: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const launch = d.lodge(['launch', 'busybox', name, '--kind', 'pv']);
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

/** Runs linux.uml by hand with `argv` and returns the ms until its console shows a prompt. */
async function rawBoot(argv: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const uml = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    uml.stdout.on('data', (b: Buffer) => {
      seen += b.toString();
      if (prompt.test(seen)) resolve();
    });
    uml.on('exit', () => reject(new Error(`linux.uml ended before its prompt: ${seen.slice(-500)}`)));
  });
  const ms = elapsedMs(t0);
  uml.removeAllListeners('exit');
  process.kill(-uml.pid!, 'SIGKILL');
  await new Promise((r) => uml.once('exit', r));
  return ms;
}

const d = new TestDaemon();
try {
  await d.start();
  await d.buildBusybox();
  // one launch first: it makes the image's ext4 base, which is not what is measured
  await lodgeBoot(d, 'warmup');
  const argv = readFileSync(`/proc/${await guestPid(d, 'warmup')}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const umlProcs = readFileSync(`${hostCgroup(await guestPid(d, 'warmup'), 'memory')}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number);
  const umlPss = umlProcs.reduce((sum, p) => sum + pssKb(p), 0) / 1024;
  const shimPid = Number(readFileSync('/proc/' + (await guestPid(d, 'warmup')) + '/stat', 'utf8').split(') ')[1]!.split(' ')[1]);
  const shimPss = pssKb(shimPid) / 1024;
  await d.done(await d.client.guests.delete('warmup', true));

  const lodge: number[] = [];
  const raw: number[] = [];
  for (let i = 0; i < runs; i++) {
    lodge.push(await lodgeBoot(d, `p${i}`));
    await d.done(await d.client.guests.delete(`p${i}`, true));
    const rawDir = path.join(d.dir, `raw${i}`);
    const rawArgv = argv.map((a) =>
      a.startsWith('ubd0=') ? `ubd0=${rawDir}.cow,${a.split(',')[1]}` : a.startsWith('uml_dir=') ? `uml_dir=${d.dir}` : a.startsWith('umid=') ? `umid=raw${i}` : a,
    );
    raw.push(await rawBoot(rawArgv));
    rmSync(`${rawDir}.cow`, { force: true });
  }
  report('pv-boot', series('lodge launch --kind pv to the shell prompt', lodge), series('linux.uml by hand to the shell prompt', raw), runs, {
    umlPssMbPerGuest: umlPss,
    shimPssMbPerGuest: shimPss,
    lodgeOverheadMs: median(lodge) - median(raw),
  });
} finally {
  await d.cleanup();
}
