/**
 * @module The client of lodge-spawner (shim/lodge-spawner.c): programs run by a small
 * helper process instead of by forking lodged, whose page tables make every fork cost
 * milliseconds of its one thread. One spawner per lodged, requests over its stdin,
 * answers by id on its stdout; it ends when lodged does. Every string in a request is
 * framed by its length, so no byte of an argument can become a separator; an argument
 * that holds a NUL could not reach a program whole, and is refused before anything is sent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

export interface SpawnerResult {
  code: number;
  /** The signal that ended the program, if one did. */
  signal?: string;
  /** Why it could not be started (an errno name such as ENOENT), if it was not. */
  spawnError?: string;
  /** The spawner killed its process group at the timeout. */
  timedOut?: boolean;
  /** The stream that passed the output cap: the spawner killed the group and kept only the cap. */
  overflowed?: 'stdout' | 'stderr';
  stdout: string;
  stderr: string;
}

export interface SpawnerRunOptions {
  timeoutMs: number;
  /** Bytes kept of each of stdout and stderr; past them the program's group is killed. */
  outputCapBytes: number;
}

const signalNames = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name]));
const errnoNames = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));
const flagTimedOut = 1;
const flagStdoutCap = 2;
const flagStderrCap = 4;

/** Throws, naming the argument, when one holds a NUL: no program could receive it whole. */
export function refuseNul(argv: readonly string[]): void {
  const i = argv.findIndex((a) => a.includes('\0'));
  if (i >= 0) throw new Error(`argument ${i} of ${argv[0]?.includes('\0') ? 'a command' : argv[0]} holds a NUL byte (${JSON.stringify(argv[i]!.slice(0, 80))}): no program can receive it`);
}

/** A request frame: len id timeout_ms out_cap argc stdin_len, each string as (u32 length, bytes), then stdin. */
export function encodeRequest(id: number, argv: readonly string[], input: Buffer, options: SpawnerRunOptions): Buffer {
  refuseNul(argv);
  const parts: Buffer[] = [];
  for (const a of argv) {
    const bytes = Buffer.from(a);
    const n = Buffer.alloc(4);
    n.writeUInt32LE(bytes.length, 0);
    parts.push(n, bytes);
  }
  parts.push(input);
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(24);
  head.writeUInt32LE(20 + body.length, 0);
  head.writeUInt32LE(id, 4);
  head.writeUInt32LE(options.timeoutMs, 8);
  head.writeUInt32LE(options.outputCapBytes, 12);
  head.writeUInt32LE(argv.length, 16);
  head.writeUInt32LE(input.length, 20);
  return Buffer.concat([head, body]);
}

/** Cuts a byte stream into length-prefixed frames, copying each byte once however it arrives. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private size = 0;

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.size += chunk.length;
    const frames: Buffer[] = [];
    while (this.size >= 4) {
      const len = this.peekLength();
      if (this.size < 4 + len) break;
      frames.push(this.take(4 + len).subarray(4));
    }
    return frames;
  }

  private peekLength(): number {
    while (this.chunks[0]!.length < 4) this.chunks.splice(0, 2, Buffer.concat(this.chunks.slice(0, 2)));
    return this.chunks[0]!.readUInt32LE(0);
  }

  private take(n: number): Buffer {
    const taken: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const c = this.chunks[0]!;
      if (c.length <= left) {
        taken.push(c);
        this.chunks.shift();
        left -= c.length;
      } else {
        taken.push(c.subarray(0, left));
        this.chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.size -= n;
    return taken.length === 1 ? taken[0]! : Buffer.concat(taken, n);
  }
}

export class Spawner {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, { resolve: (r: SpawnerResult) => void; reject: (e: Error) => void }>();
  private readonly frames = new FrameReader();
  private nextId = 1;
  alive = true;

  constructor(binary: string) {
    this.child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.stdout!.on('data', (b: Buffer) => {
      for (const frame of this.frames.push(b)) this.onAnswer(frame);
    });
    const gone = (why: string) => {
      this.alive = false;
      for (const p of this.pending.values()) p.reject(new Error(`lodge-spawner ${why}`));
      this.pending.clear();
    };
    this.child.on('error', (e) => gone(`failed: ${e.message}`));
    this.child.on('exit', (code, signal) => gone(`ended (${signal ?? code})`));
    this.child.stdin!.on('error', () => {});
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Lets the spawner end once what it runs has answered. */
  close(): void {
    this.child.stdin!.end();
  }

  run(argv: readonly string[], input: string | Buffer | undefined, options: SpawnerRunOptions): Promise<SpawnerResult> {
    if (!this.alive) return Promise.reject(new Error('lodge-spawner is not running'));
    const id = this.nextId++;
    let frame: Buffer;
    try {
      frame = encodeRequest(id, argv, input === undefined ? Buffer.alloc(0) : Buffer.from(input), options);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin!.write(frame);
    });
  }

  private onAnswer(frame: Buffer): void {
    const [id, code, signal, spawnErrno, flags, outLen] = [0, 4, 8, 12, 16, 20].map((o) => frame.readUInt32LE(o)) as [number, number, number, number, number, number];
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    const overflowed = flags & flagStdoutCap ? 'stdout' : flags & flagStderrCap ? 'stderr' : undefined;
    p.resolve({
      code: code | 0,
      ...(signal ? { signal: signalNames.get(signal) ?? String(signal) } : {}),
      ...(spawnErrno ? { spawnError: errnoNames.get(spawnErrno) ?? String(spawnErrno) } : {}),
      ...(flags & flagTimedOut ? { timedOut: true } : {}),
      ...(overflowed ? { overflowed } : {}),
      stdout: frame.subarray(28, 28 + outLen).toString(),
      stderr: frame.subarray(28 + outLen).toString(),
    });
  }
}
