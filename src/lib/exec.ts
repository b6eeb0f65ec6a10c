/**
 * @module The one way Lodge runs a program: an argv array (never a shell string), a
 * timeout, an optional AbortSignal, and on failure an error that carries the command
 * line and what the program wrote to stderr. In lodged, programs are started by
 * lodge-spawner (see spawner.ts) rather than by forking lodged itself. Either way a
 * program leads a process group of its own, which is killed whole at its timeout or when
 * its output passes the cap; once it has exited or been killed, its output is read for
 * at most drainMs more (a descendant that keeps the pipes open does not hold the caller).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { refuseNul, Spawner } from './spawner.js';
import { programStep, timed } from './step-timings.js';

/** What is kept of a program's stdout, and of its stderr, unless the caller says otherwise. */
export const outputCapBytes = 16 * 1024 * 1024;
/** How long output is still read after the program has exited or been killed. */
const drainMs = 2000;
/** A spawner that died is started again, at most this often (in between, programs are forked). */
const spawnerRestartMs = 1000;

let spawnerBinary: string | undefined;
let spawner: Spawner | undefined;
let spawnerStartedAt = 0;

/** From now on this process runs programs through the lodge-spawner at `binary` (lodged does, at start). */
export function useSpawner(binary: string): void {
  spawnerBinary = binary;
  spawner = new Spawner(binary);
  spawnerStartedAt = Date.now();
}

/** Ends the spawner once what it runs has answered; later programs are forked. */
export function stopSpawner(): void {
  spawnerBinary = undefined;
  spawner?.close();
}

/** The spawner's pid, while one runs. */
export function spawnerPid(): number | undefined {
  return spawner?.alive ? spawner.pid : undefined;
}

/** The spawner, started again if it has died; undefined when there is none to use. */
function liveSpawner(): Spawner | undefined {
  if (spawnerBinary && !spawner?.alive && Date.now() - spawnerStartedAt >= spawnerRestartMs) useSpawner(spawnerBinary);
  return spawner?.alive ? spawner : undefined;
}

export interface ExecOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Resolve with the result instead of throwing when the exit code is not 0. */
  allowFailure?: boolean;
  /** Bytes of stdout, and of stderr, past which the program is killed (default outputCapBytes). */
  outputCapBytes?: number;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class ExecError extends Error {
  readonly argv: readonly string[];
  readonly result: ExecResult;
  /** Set when Lodge ended the program: at its timeout, or when its output passed the cap. */
  readonly exceeded?: 'timeout' | 'output';
  constructor(argv: readonly string[], result: ExecResult, why: string, exceeded?: 'timeout' | 'output') {
    const detail = exceeded === 'output' ? '' : result.stderr.trim() || result.stdout.trim();
    super(`${argv.join(' ')}: ${why}${detail ? `: ${detail.slice(-2000)}` : ''}`);
    this.name = 'ExecError';
    this.argv = argv;
    this.result = result;
    if (exceeded) this.exceeded = exceeded;
  }
}

const mib = (bytes: number) => `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`;

/** The error for a program Lodge ended, or for one that failed by itself (undefined when it did not fail). */
function failure(argv: readonly string[], result: ExecResult, how: { signal?: string; timedOut?: boolean; overflowed?: string; timeoutMs: number; capBytes: number }, allowFailure?: boolean): ExecError | undefined {
  if (how.overflowed) return new ExecError(argv, result, `its ${how.overflowed} exceeds ${mib(how.capBytes)}: it was killed`, 'output');
  if (how.timedOut) return new ExecError(argv, result, `timed out after ${how.timeoutMs / 1000} s: it was killed with its process group`, 'timeout');
  if (result.code === 0 || allowFailure) return undefined;
  return new ExecError(argv, result, how.signal ? `killed by ${how.signal}` : `exit code ${result.code}`);
}

export function run(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  if (!argv[0]) throw new Error('run: empty argv');
  refuseNul(argv);
  // the spawner runs with lodged's environment and directory, and cannot be aborted
  const s = !options.env && !options.cwd && !options.signal ? liveSpawner() : undefined;
  if (s) return timed(programStep(argv), () => runBySpawner(s, argv, options));
  return timed(programStep(argv), () => runByFork(argv, options));
}

/** Chunks of one stream, up to a cap; what passes it is dropped. */
class Collected {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  readonly cap: number;
  constructor(cap: number) {
    this.cap = cap;
  }
  /** Keeps the chunk, or as much as fits; false once the cap is passed. */
  add(chunk: Buffer): boolean {
    const room = this.cap - this.bytes;
    this.chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
    this.bytes += Math.min(chunk.length, room);
    return chunk.length <= room;
  }
  text(): string {
    return Buffer.concat(this.chunks, this.bytes).toString();
  }
}

function runByFork(argv: readonly string[], options: ExecOptions): Promise<ExecResult> {
  const [file, ...args] = argv as [string, ...string[]];
  const timeoutMs = options.timeoutMs ?? 60_000;
  const capBytes = options.outputCapBytes ?? outputCapBytes;
  return new Promise((resolve, reject) => {
    // detached: a session, hence a process group, of its own, so that a kill reaches what it started
    const child = spawn(file, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      detached: true,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out = new Collected(capBytes);
    const err = new Collected(capBytes);
    let timedOut = false;
    let overflowed: string | undefined;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let drain: NodeJS.Timeout | undefined;
    let settled = false;

    const finish = (settle: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(drain);
      options.signal?.removeEventListener('abort', onAbort);
      child.stdout!.destroy();
      child.stderr!.destroy();
      settle();
    };
    const complete = () =>
      finish(() => {
        const result = { code: exit?.code ?? -1, stdout: out.text(), stderr: err.text() };
        const e = failure(argv, result, { signal: exit?.signal ?? (exit ? undefined : 'SIGKILL'), timedOut, overflowed, timeoutMs, capBytes }, options.allowFailure);
        if (e) reject(e);
        else resolve(result);
      });
    const startDrain = () => {
      drain ??= setTimeout(complete, drainMs);
    };
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group has ended already
      }
      startDrain();
    };
    const onAbort = () => {
      killGroup();
      finish(() => reject(new ExecError(argv, { code: -1, stdout: '', stderr: '' }, 'aborted')));
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    options.signal?.addEventListener('abort', onAbort);
    if (options.signal?.aborted) onAbort();

    const collect = (stream: Readable, into: Collected, name: string) =>
      stream.on('data', (b: Buffer) => {
        if (into.add(b) || overflowed) return;
        overflowed = name;
        stream.destroy();
        killGroup();
      });
    collect(child.stdout!, out, 'stdout');
    collect(child.stderr!, err, 'stderr');
    if (options.input !== undefined) {
      child.stdin!.on('error', () => {}); // a program may end without reading its input
      child.stdin!.end(options.input);
    }
    child.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' ? 'not found (is it installed?)' : e.message;
      finish(() => reject(new ExecError(argv, { code: -1, stdout: '', stderr: '' }, why)));
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      startDrain();
    });
    child.on('close', complete);
  });
}

async function runBySpawner(s: Spawner, argv: readonly string[], options: ExecOptions): Promise<ExecResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const capBytes = options.outputCapBytes ?? outputCapBytes;
  const r = await s.run(argv, options.input, { timeoutMs, outputCapBytes: capBytes });
  if (r.spawnError) throw new ExecError(argv, { code: -1, stdout: '', stderr: '' }, r.spawnError === 'ENOENT' ? 'not found (is it installed?)' : r.spawnError);
  const result = { code: r.code, stdout: r.stdout, stderr: r.stderr };
  const e = failure(argv, result, { ...r, timeoutMs, capBytes }, options.allowFailure);
  if (e) throw e;
  return result;
}

/**
 * A program whose stdout is the answer, however long (an archive it writes): the stream
 * ends only once the program has exited 0, and fails with an ExecError (its stderr) when it
 * failed, was killed at `timeoutMs` or by `signal`. Destroying the stream (a reader gone)
 * kills the program's process group. Forked, since the spawner collects output whole.
 */
export function runStreaming(argv: readonly string[], options: { timeoutMs?: number; signal?: AbortSignal } = {}): Readable {
  const [file, ...args] = argv as [string, ...string[]];
  if (!file) throw new Error('runStreaming: empty argv');
  refuseNul(argv);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const out = new PassThrough();
  const child = spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const err = new Collected(64 * 1024);
  let timedOut = false;
  let ended = false;
  const killGroup = () => {
    try {
      if (child.pid && !ended) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the group has ended already
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, timeoutMs);
  const onAbort = () => killGroup();
  options.signal?.addEventListener('abort', onAbort);
  if (options.signal?.aborted) onAbort();
  child.stdout.pipe(out, { end: false });
  child.stderr.on('data', (b: Buffer) => void err.add(b));
  out.once('close', killGroup);
  const settle = (e: ExecError | undefined) => {
    ended = true;
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    if (e) out.destroy(e);
    else out.end();
  };
  child.once('error', (e: NodeJS.ErrnoException) => settle(new ExecError(argv, { code: -1, stdout: '', stderr: '' }, e.code === 'ENOENT' ? 'not found (is it installed?)' : e.message)));
  child.once('close', (code, signal) => {
    const result = { code: code ?? -1, stdout: '', stderr: err.text() };
    settle(
      options.signal?.aborted
        ? new ExecError(argv, result, 'aborted')
        : failure(argv, result, { ...(signal ? { signal } : {}), timedOut, timeoutMs, capBytes: 0 }),
    );
  });
  return out;
}

/**
 * A program whose input and output are the caller's to stream, at the caller's pace: it
 * leads a process group of its own (detached), and the caller ends it. Forked, since the
 * spawner collects output whole.
 */
export function spawnPiped(argv: readonly string[]): ChildProcessWithoutNullStreams {
  const [file, ...args] = argv as [string, ...string[]];
  if (!file) throw new Error('spawnPiped: empty argv');
  refuseNul(argv);
  return spawn(file, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
}
