/**
 * @module The one way Lodge runs a program: an argv array (never a shell string), a
 * timeout, an optional AbortSignal, and on failure an error that carries the command
 * line and what the program wrote to stderr. In lodged, programs are started by
 * lodge-spawner (see spawner.ts) rather than by forking lodged itself.
 */
import { spawn } from 'node:child_process';
import { Spawner } from './spawner.js';
import { programStep, timed } from './step-timings.js';

let spawner: Spawner | undefined;

/** From now on this process runs programs through the lodge-spawner at `binary` (lodged does, at start). */
export function useSpawner(binary: string): void {
  spawner = new Spawner(binary);
}

export interface ExecOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Resolve with the result instead of throwing when the exit code is not 0. */
  allowFailure?: boolean;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class ExecError extends Error {
  readonly argv: readonly string[];
  readonly result: ExecResult;
  constructor(argv: readonly string[], result: ExecResult, why: string) {
    const detail = result.stderr.trim() || result.stdout.trim();
    super(`${argv.join(' ')}: ${why}${detail ? `: ${detail.slice(-2000)}` : ''}`);
    this.name = 'ExecError';
    this.argv = argv;
    this.result = result;
  }
}

export function run(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  if (!argv[0]) throw new Error('run: empty argv');
  // the spawner runs with lodged's environment and directory, and cannot be aborted
  const s = spawner;
  if (s?.alive && !options.env && !options.cwd && !options.signal) return timed(programStep(argv), () => runBySpawner(s, argv, options));
  return timed(programStep(argv), () => runByFork(argv, options));
}

function runByFork(argv: readonly string[], options: ExecOptions): Promise<ExecResult> {
  const [file, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      signal: options.signal,
      timeout: options.timeoutMs ?? 60_000,
      killSignal: 'SIGKILL',
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    if (options.input !== undefined) child.stdin!.end(options.input);
    child.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' ? 'not found (is it installed?)' : e.message;
      reject(new ExecError(argv, { code: -1, stdout: '', stderr: '' }, why));
    });
    child.on('close', (code, signal) => {
      const result = { code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if (code === 0 || options.allowFailure) resolve(result);
      else reject(new ExecError(argv, result, signal ? `killed by ${signal}` : `exit code ${code}`));
    });
  });
}

async function runBySpawner(s: Spawner, argv: readonly string[], options: ExecOptions): Promise<ExecResult> {
  const r = await s.run(argv, options.input, options.timeoutMs ?? 60_000);
  if (r.spawnError) throw new ExecError(argv, { code: -1, stdout: '', stderr: '' }, r.spawnError === 'ENOENT' ? 'not found (is it installed?)' : r.spawnError);
  const result = { code: r.code, stdout: r.stdout, stderr: r.stderr };
  if (r.code === 0 || options.allowFailure) return result;
  throw new ExecError(argv, result, r.signal ? `killed by ${r.signal}` : `exit code ${r.code}`);
}
