/**
 * @module A container's exec as streams: `runc exec` with its three pipes handed to the caller.
 * runc writes its own failure to start the command (no such program, no such --cwd) to the
 * same stderr as the command's, so what comes on stderr before the command runs (runc has
 * written its pid file) is held; if runc then logs that it could not start the command, the
 * caller gets a plain message and a shell's exit code (127 not found, 126 otherwise) instead
 * of runc's log line and 255.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { constants } from 'node:os';
import { PassThrough } from 'node:stream';
import type { ExecSignal } from '../../api/guests.js';
import type { ExecProcess } from '../driver.js';
import { cannotRun } from '../exec-failure.js';

export interface RuntimeExec {
  child: ChildProcessWithoutNullStreams;
  /** Where runc writes the command's host pid once it runs. */
  pidFile: string;
  /** Where runc logs (as JSON lines) why it could not start the command. */
  logFile: string;
  /** The guest and command, as the messages name them. */
  guest: string;
  command: string;
  /** Kills what the command left in the guest (its session); called before the runtime is killed. */
  killSession(): Promise<void>;
  /** A start failure that is the guest's state rather than the command's (its process limit), as the error to answer with. */
  explain?(runtimeMessage: string): Promise<Error | undefined>;
}

/** Why runc could not start the command, from its JSON log; undefined when it did start it. */
export async function startFailure(logFile: string): Promise<string | undefined> {
  const log = await readFile(logFile, 'utf8').catch(() => '');
  for (const line of log.split('\n')) {
    try {
      const entry = JSON.parse(line) as { level?: unknown; msg?: unknown };
      if (entry.level === 'error' && typeof entry.msg === 'string') return entry.msg;
    } catch {
      // not a JSON line: runc's log has nothing else of use
    }
  }
  return undefined;
}

/** A start failure as a shell would say it: the message (the runtime's words trimmed to the cause) and the exit code. */
export function shellFailure(runtimeMessage: string, guest: string, command: string): { message: string; exitCode: number } {
  const cause = runtimeMessage.replace(/^exec failed: (unable to start container process: )?/, '');
  if (/executable file not found|^exec: "[^"]*": (stat [^:]*: )?no such file or directory/.test(cause)) return cannotRun(guest, command);
  const cwd = /^chdir to cwd \("(.*)"\) set in config\.json failed: (.*)$/.exec(cause);
  if (cwd) return { message: `lodge: --cwd ${cwd[1]}: ${cwd[2]} in ${guest}\n`, exitCode: 126 };
  return cannotRun(guest, command, cause);
}

export function runtimeExecProcess(r: RuntimeExec): ExecProcess {
  const { child } = r;
  const stderr = new PassThrough();
  const held: Buffer[] = [];
  let started = false;
  const running = () => child.exitCode === null && child.signalCode === null;
  const hasStarted = () => (started ||= existsSync(r.pidFile));
  child.stdin.on('error', () => {}); // a command may end without reading its input
  child.stderr.on('data', (b: Buffer) => {
    if (!hasStarted()) return void held.push(b);
    for (const h of held.splice(0)) stderr.write(h);
    if (!stderr.write(b)) child.stderr.pause();
  });
  stderr.on('drain', () => child.stderr.resume());

  const exit = new Promise<number>((resolve, reject) => {
    child.once('error', (e) => {
      stderr.end();
      reject(e);
    });
    child.once('close', (code, signal) => {
      void (async () => {
        const failure = code !== 0 && !hasStarted() ? await startFailure(r.logFile) : undefined;
        await Promise.all([rm(r.pidFile, { force: true }), rm(r.logFile, { force: true })]);
        if (failure === undefined) {
          for (const h of held.splice(0)) stderr.write(h);
          stderr.end();
          return resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
        }
        const guestState = await r.explain?.(failure);
        if (guestState) {
          stderr.end();
          return reject(guestState);
        }
        const { message, exitCode } = shellFailure(failure, r.guest, r.command);
        stderr.end(message);
        resolve(exitCode);
      })().catch(reject);
    });
  });

  /** The command's process group: it leads a session of its own, so its host pid is the group's id. */
  const leader = () => {
    const pid = Number(readFileSync(r.pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  };
  const killGroup = (pid: number | undefined, signal: NodeJS.Signals) => {
    try {
      if (pid) process.kill(-pid, signal);
    } catch {
      // it has ended
    }
  };
  return {
    stdin: child.stdin,
    stdout: child.stdout,
    stderr,
    exit,
    signal(name: ExecSignal) {
      // only while runc waits for the command: its group's id cannot have been taken by another
      if (!running()) return;
      let pid: number | undefined;
      try {
        pid = hasStarted() ? leader() : undefined;
      } catch {
        // the pid file is gone: runc is ending
      }
      killGroup(pid ?? child.pid, `SIG${name}`);
    },
    kill() {
      if (!running()) return;
      void r.killSession().finally(() => killGroup(child.pid, 'SIGKILL'));
    },
  };
}
