/**
 * @module Starting lodge-shim (shim/lodge-shim.c) and reading what it leaves: the
 * holder of a guest's console and exit status, shared by every kind that needs one.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../lib/exec.js';
import { isAlive } from '../host/processes.js';
import type { ConsolePaths, ObservedState } from './driver.js';

export interface ShimPaths {
  dir: string;
  socket: string;
  log: string;
  exit: string;
  pidfile: string;
  consoleSocket: string;
}

export function shimPaths(dir: string): ShimPaths {
  return {
    dir,
    socket: path.join(dir, 'attach.sock'),
    log: path.join(dir, 'console.log'),
    exit: path.join(dir, 'exit'),
    pidfile: path.join(dir, 'pid'),
    consoleSocket: path.join(dir, 'console.sock'),
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
}

/** Starts the shim and returns the guest's main pid once the command is up. */
export async function startShim(launch: ShimLaunch): Promise<number> {
  const { binary, paths } = launch;
  const args = [binary, '--dir', paths.dir, '--log-max', String(launch.logMaxBytes), '--pidfile', paths.pidfile];
  if (launch.consoleSocket) args.push('--console-socket');
  for (const procs of launch.join ?? []) args.push('--join', procs);
  if (launch.user !== undefined) args.push('--user', String(launch.user));
  if (launch.overlay) args.push('--mount-overlay', launch.overlay.options, launch.overlay.target);
  const result = await run([...args, '--', ...launch.argv], { allowFailure: true, timeoutMs: 120_000 });
  const line = result.stdout.trim();
  const ok = /^ok (\d+) (\d+)$/.exec(line);
  if (!ok) throw new Error(line.replace(/^error /, '') || result.stderr.trim() || `lodge-shim exited with ${result.code}`);
  return Number(ok[2]);
}

/** How the guest's main process ended, as the shim recorded it, or undefined while it runs. */
async function readExit(paths: ShimPaths): Promise<string | undefined> {
  try {
    const [how, n] = (await readFile(paths.exit, 'utf8')).trim().split(' ');
    return how === 'signal' ? `killed by signal ${n}` : `exited with code ${n}`;
  } catch {
    return undefined;
  }
}

/**
 * The pid of a guest whose main process runs, from the exit record and the pidfile.
 * Synchronous on purpose: a list of thousands of guests would queue its reads on
 * libuv's four threads, and these files are small and in the page cache.
 */
function runningPid(paths: ShimPaths): number | undefined {
  if (existsSync(paths.exit)) return undefined;
  try {
    const pid = Number(readFileSync(paths.pidfile, 'utf8'));
    return pid && isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** From files alone (the exit record and the pidfile): cheap enough for every guest on every list. */
export async function observeShim(paths: ShimPaths): Promise<ObservedState> {
  const pid = runningPid(paths);
  if (pid) return { state: 'running', pid };
  const exit = await readExit(paths);
  if (exit) return { state: 'stopped', reason: exit };
  // the shim reaps the process a moment before it records how it ended: give it that moment
  if (await waitForExit(paths, 2000)) return { state: 'stopped', reason: (await readExit(paths))! };
  return { state: 'stopped', reason: 'its main process is gone and no exit status was recorded' };
}

export async function waitForExit(paths: ShimPaths, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 10; ; delay = Math.min(delay * 2, 100)) {
    if (existsSync(paths.exit)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(delay);
  }
}
