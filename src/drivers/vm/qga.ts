/**
 * @module A client of the QEMU guest agent protocol (QGA), spoken on the guest's
 * virtio-serial port `org.qemu.guest_agent.0` (a unix socket on the host), and `lodge exec`
 * over it. Requests are QMP-style JSON objects; the agent answers each in order with
 * {"return": ...} or {"error": {...}} and a newline. A connection may hold stale answers
 * of an earlier one, so it opens with guest-sync-delimited: the agent puts a 0xFF byte
 * before its answer, and everything before that byte is dropped. The agent runs inside the
 * guest: what it sends is untrusted. A line past the cap, a line that is not a JSON object,
 * or an answer not given in time ends the connection with a QgaError, and nothing else.
 * Such a connection is hung up only once the guest has gone quiet on it (port-hangup.ts).
 */
import { randomInt } from 'node:crypto';
import net from 'node:net';
import { LodgeError } from '../../api/errors.js';
import { execOutputCapBytes, execPath, type ExecPost, type ExecResult } from '../../api/guests.js';
import { cannotRun } from '../exec-failure.js';
import { hangUpWhenQuiet } from '../port-hangup.js';

export class QgaError extends Error {}

/** An answer holds at most stdout and stderr of one exec, each capped, in base64 (4 bytes per 3), and a little JSON. */
export const maxLineBytes = 2 * Math.ceil(execOutputCapBytes / 3) * 4 + 64 * 1024;

/** The byte the agent puts before its answer to guest-sync-delimited; no JSON text holds it. */
const delimiter = 0xff;

type Answer = { return?: unknown; error?: { class?: unknown; desc?: unknown } };

/** One line of the agent as an answer; a QgaError names what was wrong, never echoes the line. */
export function parseAnswer(line: string): Answer {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new QgaError(`the guest agent sent a line that is not JSON (${line.length} characters)`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new QgaError('the guest agent sent a line that is not a JSON object');
  return value as Answer;
}

/**
 * Splits the agent's bytes into lines, after the sync delimiter. Chunks are kept as they
 * come and joined once a line ends, so a long answer costs no copying per chunk.
 */
export class LineReader {
  private synced = false;
  private chunks: Buffer[] = [];
  private length = 0;
  private readonly maxBytes: number;

  constructor(maxBytes = maxLineBytes) {
    this.maxBytes = maxBytes;
  }

  /**
   * The complete lines in `chunk`, trimmed, empty ones left out; throws once a line passes
   * the cap. A 0xFF byte drops what came before it: nothing is read before the first.
   */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let rest = chunk;
    const at = rest.lastIndexOf(delimiter);
    if (at >= 0) {
      this.synced = true;
      this.chunks = [];
      this.length = 0;
      rest = rest.subarray(at + 1);
    } else if (!this.synced) return lines;
    for (let nl; (nl = rest.indexOf(0x0a)) >= 0; rest = rest.subarray(nl + 1)) {
      this.chunks.push(rest.subarray(0, nl));
      const line = Buffer.concat(this.chunks).toString('utf8').trim();
      this.chunks = [];
      this.length = 0;
      if (line) lines.push(line);
    }
    if (rest.length) {
      this.chunks.push(rest);
      this.length += rest.length;
      if (this.length > this.maxBytes) throw new QgaError(`the guest agent sent a line longer than ${this.maxBytes} bytes`);
    }
    return lines;
  }
}

export class Qga {
  private readonly socket: net.Socket;
  private readonly reader = new LineReader();
  /** Answers are in order: the request waiting for the next line. */
  private waiting: { resolve: (a: Answer) => void; reject: (e: Error) => void } | undefined;
  /** The requests in order: one on the wire at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Why the connection ended, once it has. */
  ended: Error | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    const fail = (e: Error) => {
      this.ended ??= e;
      this.waiting?.reject(this.ended);
      this.waiting = undefined;
    };
    socket.on('data', (chunk: Buffer) => {
      if (this.ended) return;
      try {
        for (const line of this.reader.push(chunk)) {
          const answer = parseAnswer(line);
          // a line nobody asked for (the guest's own) is dropped
          const waiting = this.waiting;
          this.waiting = undefined;
          waiting?.resolve(answer);
        }
      } catch (e) {
        fail(e instanceof QgaError ? e : new QgaError(`the guest agent: ${(e as Error).message}`));
        hangUpWhenQuiet(socket);
      }
    });
    socket.on('error', fail);
    socket.on('close', () => fail(new QgaError('the guest agent\'s connection closed')));
  }

  /**
   * Connects and syncs: the agent must answer guest-sync-delimited within `timeoutMs`,
   * or the guest has no agent running (none in its image, or not booted yet).
   */
  static async connect(path: string, timeoutMs: number): Promise<Qga> {
    const qga = new Qga(net.connect(path));
    try {
      const id = randomInt(1, 2 ** 47);
      // 0xFF first: an agent halfway through a request of an earlier connection drops it
      qga.socket.write(Buffer.from([delimiter]));
      const deadline = Date.now() + timeoutMs;
      qga.write('guest-sync-delimited', { id });
      // a stale answer (or error) can still follow a 0xFF of an earlier sync: wait for ours
      while ((await qga.answer('guest-sync-delimited', Math.max(1, deadline - Date.now()))).return !== id);
      return qga;
    } catch (e) {
      qga.close();
      throw e;
    }
  }

  /** Sends a command and waits for its answer; no answer in `timeoutMs` ends the connection. */
  request<T = unknown>(command: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<T> {
    const sent = this.queue.then(() => this.send<T>(command, args, timeoutMs));
    this.queue = sent.catch(() => {});
    return sent;
  }

  private async send<T>(command: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<T> {
    const answer = this.answer(command, timeoutMs);
    this.write(command, args);
    const a = await answer;
    if (a.error !== undefined) throw new QgaError(`${command}: ${describeError(a.error)}`);
    return a.return as T;
  }

  private write(command: string, args: Record<string, unknown> | undefined): void {
    if (!this.ended) this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) })}\n`);
  }

  /** The next answer, to `command`; none in `timeoutMs` ends the connection. */
  private answer(command: string, timeoutMs: number): Promise<Answer> {
    if (this.ended) return Promise.reject(this.ended);
    return new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject((this.ended ??= new QgaError(`the guest agent did not answer ${command} in ${timeoutMs} ms`)));
        hangUpWhenQuiet(this.socket);
      }, timeoutMs);
      this.waiting = {
        resolve: (a) => {
          clearTimeout(timer);
          resolve(a);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /** Closes a connection in use; one that has failed is being hung up already. */
  close(): void {
    if (!this.ended) this.socket.destroy();
  }
}

/** The agent's error as one short line: its description, cut, without control characters. */
function describeError(error: Answer['error']): string {
  const desc = typeof error?.desc === 'string' ? error.desc : 'an error without a description';
  return desc.replace(/[\x00-\x1f\x7f]/g, ' ').trim().slice(0, 300);
}


/**
 * The guest-exec arguments of a request. QGA has no working directory: with `cwd` the
 * command runs through the guest's /bin/sh, which enters it (exit 127 if it cannot, as in pv guests).
 */
export function execArguments(request: ExecPost): Record<string, unknown> {
  const [first, ...rest] = request.command;
  const argv = request.cwd ? ['/bin/sh', '-c', 'cd -- "$1" || exit 127; shift; exec "$@"', 'lodge-exec', request.cwd, first!, ...rest] : [first!, ...rest];
  const env = { PATH: execPath, HOME: '/root', ...request.env };
  return {
    path: argv[0],
    arg: argv.slice(1),
    env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    ...(request.stdin ? { 'input-data': Buffer.from(request.stdin).toString('base64') } : {}),
    'capture-output': true,
  };
}

/** guest-exec-status, as far as Lodge reads it. */
export interface ExecStatus {
  exited?: unknown;
  exitcode?: unknown;
  signal?: unknown;
  'out-data'?: unknown;
  'err-data'?: unknown;
  'out-truncated'?: unknown;
  'err-truncated'?: unknown;
}

const smallInt = (n: unknown, max: number): n is number => Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) <= max;

/** A base64 field of the agent's answer, decoded; over the cap it is refused. */
function output(name: string, field: unknown, stream: string): string {
  if (field === undefined) return '';
  if (typeof field !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(field)) throw new QgaError(`the guest agent's ${stream} is not base64`);
  const bytes = Buffer.from(field, 'base64');
  if (bytes.length > execOutputCapBytes) throw exceeded(name, stream);
  return bytes.toString('utf8');
}

const exceeded = (name: string, stream: string) =>
  new LodgeError('UNSUPPORTED', `exec in ${name}: the ${stream} of the command exceeds ${execOutputCapBytes / 1024 / 1024} MiB: the guest agent dropped the rest (exec returns at most that much of stdout and of stderr; write more to a file in the guest)`);

/** The result of an exited command; a signal is reported as a shell does, 128 + its number. */
export function execResult(name: string, status: ExecStatus): ExecResult {
  if (status['out-truncated'] === true) throw exceeded(name, 'stdout');
  if (status['err-truncated'] === true) throw exceeded(name, 'stderr');
  const exitCode = smallInt(status.exitcode, 255) ? status.exitcode : smallInt(status.signal, 127) ? 128 + status.signal : undefined;
  if (exitCode === undefined) throw new QgaError('the guest agent gave neither an exit code nor a signal');
  return { exitCode, stdout: output(name, status['out-data'], 'stdout'), stderr: output(name, status['err-data'], 'stderr') };
}

export interface ExecTimes {
  /** How long one answer of the agent may take. */
  answerMs: number;
  /** How long the command may run. */
  runMs: number;
}

/** Runs a command through guest-exec and polls guest-exec-status until it has exited. */
export async function guestExec(qga: Qga, name: string, request: ExecPost, times: ExecTimes): Promise<ExecResult> {
  let started: { pid?: unknown };
  try {
    started = await qga.request<{ pid?: unknown }>('guest-exec', execArguments(request), times.answerMs);
  } catch (e) {
    // the agent's own refusal: the command does not exist, or cannot run (GLib's words, with its path)
    if (!(e instanceof QgaError) || qga.ended) throw e;
    const cause = e.message.replace(/^guest-exec: (Guest agent command failed, error was '(.*)'$)?/, '$2');
    const { exitCode, message } = cannotRun(name, request.command[0]!, /\(No such file or directory\)$/.test(cause) ? undefined : cause);
    return { exitCode, stdout: '', stderr: message };
  }
  const pid = started?.pid;
  if (!smallInt(pid, 2 ** 31)) throw new QgaError('the guest agent gave no pid for the command');
  const deadline = Date.now() + times.runMs;
  for (let wait = 20; ; wait = Math.min(wait * 2, 250)) {
    const status = await qga.request<ExecStatus>('guest-exec-status', { pid }, times.answerMs);
    if (status?.exited === true) return execResult(name, status);
    if (Date.now() >= deadline) {
      await qga.request('guest-exec', { path: 'kill', arg: ['-KILL', String(pid)], env: [`PATH=${execPath}`] }, times.answerMs).catch(() => {});
      throw new LodgeError('ENGINE_FAILED', `exec in ${name}: ${request.command[0]} ran past ${times.runMs / 1000} s: it was killed`);
    }
    await new Promise((r) => setTimeout(r, wait));
  }
}
