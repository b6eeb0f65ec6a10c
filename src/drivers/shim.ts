/**
 * @module Starting lodge-shim (shim/lodge-shim.c) and reading what it leaves: the
 * holder of a guest's console and exit status, shared by every kind that needs one.
 */
import { existsSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../lib/exec.js';
import { checkPidFile, checkProcess, parseIdentity, processState, readIdentity, readRecord, writeRecord, type CheckedProcess, type ProcessIdentity } from '../host/processes.js';
import type { Answering, ConsolePaths, ObservedState } from './driver.js';

export interface ShimPaths {
  dir: string;
  socket: string;
  log: string;
  exit: string;
  pidfile: string;
  /** The shim's and the main process's identities (host/processes.ts), written once both run. */
  processes: string;
  consoleSocket: string;
  /** With a channel: where the shim serves it, once the command has spoken on it. */
  execSocket: string;
}

export function shimPaths(dir: string): ShimPaths {
  return {
    dir,
    socket: path.join(dir, 'attach.sock'),
    log: path.join(dir, 'console.log'),
    exit: path.join(dir, 'exit'),
    pidfile: path.join(dir, 'pid'),
    processes: path.join(dir, 'processes.json'),
    consoleSocket: path.join(dir, 'console.sock'),
    execSocket: path.join(dir, 'exec.sock'),
  };
}

export function consolePaths(p: ShimPaths): ConsolePaths {
  return { socket: p.socket, logs: [`${p.log}.1`, p.log] };
}

export interface ShimLaunch {
  binary: string;
  paths: ShimPaths;
  argv: string[];
  /** The command hands the pty back over paths.consoleSocket and writes the main pid to paths.pidfile. */
  consoleSocket: boolean;
  logMaxBytes: number;
  /** cgroup.procs files the command joins before it runs. */
  join?: string[];
  /** An unprivileged uid (and gid) the command runs as. */
  user?: number;
  /** An overlay the command needs, mounted in a mount namespace of the shim's own. */
  overlay?: { options: string; target: string };
  /** Variables the command gets beside lodged's environment. */
  env?: Record<string, string>;
  /** The command gets a line on fds 4 (in) and 5 (out), which the shim serves on paths.execSocket (a pv guest's exec line). */
  channel?: boolean;
}

/** Starts the shim and returns the guest's main pid once the command is up. */
export async function startShim(launch: ShimLaunch): Promise<number> {
  const { binary, paths } = launch;
  const args = [binary, '--dir', paths.dir, '--log-max', String(launch.logMaxBytes), '--pidfile', paths.pidfile];
  if (launch.consoleSocket) args.push('--console-socket');
  if (launch.channel) args.push('--channel');
  for (const procs of launch.join ?? []) args.push('--join', procs);
  if (launch.user !== undefined) args.push('--user', String(launch.user));
  if (launch.overlay) args.push('--mount-overlay', launch.overlay.options, launch.overlay.target);
  rmSync(paths.processes, { force: true });
  const result = await run([...args, '--', ...launch.argv], { allowFailure: true, timeoutMs: 120_000, ...(launch.env ? { env: { ...process.env, ...launch.env } } : {}) });
  const line = result.stdout.trim();
  const ok = /^ok (\d+) (\d+)$/.exec(line);
  if (!ok) throw new Error(line.replace(/^error /, '') || result.stderr.trim() || `lodge-shim exited with ${result.code}`);
  const [shimPid, mainPid] = [Number(ok[1]), Number(ok[2])];
  // a main process that ended already has no identity: the exit record tells its end
  writeRecord(paths.processes, { shim: readIdentity(shimPid), main: readIdentity(mainPid) });
  return mainPid;
}

/** Pure: how the main process ended, from the exit record's text ("exit N" or "signal N"). */
export function describeExit(record: string): string {
  const m = /^(exit|signal) (\d+)\n?$/.exec(record);
  if (!m) return 'it ended, and its exit record is unreadable';
  return m[1] === 'signal' ? `killed by signal ${m[2]}` : `exited with code ${m[2]}`;
}

/** Pure: whether the exit record says a clean end: exit 0, or one of the signals the kind's engine ends so on a poweroff from inside. */
export function cleanExit(record: string, cleanSignals: readonly number[]): boolean {
  const m = /^(exit|signal) (\d+)\n?$/.exec(record);
  return !!m && (m[1] === 'exit' ? m[2] === '0' : cleanSignals.includes(Number(m[2])));
}

/** How the guest's main process ended, as the shim recorded it, or undefined while it runs. */
async function readExit(paths: ShimPaths, cleanSignals: readonly number[]): Promise<{ state: 'stopped'; reason: string; clean?: true } | undefined> {
  const record = await readFile(paths.exit, 'utf8').catch(() => undefined);
  if (record === undefined) return undefined;
  return { state: 'stopped', reason: describeExit(record), ...(cleanExit(record, cleanSignals) ? { clean: true as const } : {}) };
}

/**
 * The guest's main process as recorded, checked against what holds its pid now: never a
 * stranger that got the pid after a reboot or after the guest ended. Synchronous on
 * purpose: a list of thousands of guests would queue its reads on libuv's four threads,
 * and these files are small and in the page cache.
 */
function mainProcess(paths: ShimPaths): CheckedProcess {
  if (existsSync(paths.exit)) return { reason: 'it ended' };
  const main = parseIdentity((readRecord(paths.processes) as { main?: unknown } | undefined)?.main);
  if (main) return checkProcess(main);
  // a guest started by a Lodge that recorded no identities has its pid file alone: once
  // that checks out, its identity is recorded, and the weaker check is not needed again
  const checked = checkPidFile(paths.pidfile);
  if (checked.pid) writeRecord(paths.processes, { main: readIdentity(checked.pid) });
  return checked;
}

/** The guest's main process as its start recorded it, while that process runs; a pid reused since is not it. */
export function runningMain(paths: ShimPaths): ProcessIdentity | undefined {
  const main = mainProcess(paths);
  if (!main.pid) return undefined;
  return parseIdentity((readRecord(paths.processes) as { main?: unknown } | undefined)?.main);
}

/** Whether the shim may still write the exit record: not when it is recorded and gone. */
function shimMayRun(paths: ShimPaths): boolean {
  const shim = parseIdentity((readRecord(paths.processes) as { shim?: unknown } | undefined)?.shim);
  return !shim || checkProcess(shim).pid !== undefined;
}

/**
 * Whether the lodge-shim that holds the guest's console is there to serve it: not when it has
 * ended (its guest runs on without a console) nor while it is stopped (the console is frozen).
 * Undefined for a guest whose start recorded no shim (an earlier Lodge's).
 */
export function shimAnswers(paths: ShimPaths): Answering | undefined {
  const shim = parseIdentity((readRecord(paths.processes) as { shim?: unknown } | undefined)?.shim);
  if (!shim) return undefined;
  const checked = checkProcess(shim);
  if (!checked.pid) return { answers: false, why: `lodge-shim, which holds its console, is gone (${checked.reason})` };
  const state = processState(checked.pid);
  if (state === 'T' || state === 't') return { answers: false, why: `lodge-shim (pid ${checked.pid}), which holds its console, is stopped` };
  return { answers: true };
}

/** From files alone (the exit record, the identities, the pidfile): cheap enough for every guest on every list. */
export async function observeShim(paths: ShimPaths, cleanSignals: readonly number[] = []): Promise<ObservedState> {
  const main = mainProcess(paths);
  if (main.pid) return { state: 'running', pid: main.pid };
  const exit = await readExit(paths, cleanSignals);
  if (exit) return exit;
  // the shim reaps the process a moment before it records how it ended: give it that moment
  if (shimMayRun(paths) && (await waitForExit(paths, 2000))) return (await readExit(paths, cleanSignals))!;
  return { state: 'stopped', reason: `its main process ended and no exit status was recorded: ${main.reason}` };
}

export async function waitForExit(paths: ShimPaths, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 10; ; delay = Math.min(delay * 2, 100)) {
    if (existsSync(paths.exit)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(delay);
  }
}
