/**
 * @module The client of lodge-spawner (shim/lodge-spawner.c): programs run by a small
 * helper process instead of by forking lodged, whose page tables make every fork cost
 * milliseconds of its one thread. One spawner per lodged, requests over its stdin,
 * answers by id on its stdout; it ends when lodged does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

export interface SpawnerResult {
  code: number;
  /** The signal that ended the program, if one did. */
  signal?: string;
  /** Why it could not be started (an errno name such as ENOENT), if it was not. */
  spawnError?: string;
  stdout: string;
  stderr: string;
}

const signalNames = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name]));
const errnoNames = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

export class Spawner {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, { resolve: (r: SpawnerResult) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private received: Buffer = Buffer.alloc(0);
  alive = true;

  constructor(binary: string) {
    this.child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.stdout!.on('data', (b: Buffer) => this.onData(b));
    const gone = (why: string) => {
      this.alive = false;
      for (const p of this.pending.values()) p.reject(new Error(`lodge-spawner ${why}`));
      this.pending.clear();
    };
    this.child.on('error', (e) => gone(`failed: ${e.message}`));
    this.child.on('exit', (code, signal) => gone(`ended (${signal ?? code})`));
    this.child.stdin!.on('error', () => {});
  }

  /** Lets the spawner end once what it runs has answered. */
  close(): void {
    this.child.stdin!.end();
  }

  run(argv: readonly string[], input: string | Buffer | undefined, timeoutMs: number): Promise<SpawnerResult> {
    if (!this.alive) return Promise.reject(new Error('lodge-spawner is not running'));
    const id = this.nextId++;
    const strings = Buffer.from(`${argv.join('\0')}\0`);
    const stdin = input === undefined ? Buffer.alloc(0) : Buffer.from(input);
    const head = Buffer.alloc(20);
    head.writeUInt32LE(16 + strings.length + stdin.length, 0);
    head.writeUInt32LE(id, 4);
    head.writeUInt32LE(timeoutMs, 8);
    head.writeUInt32LE(argv.length, 12);
    head.writeUInt32LE(stdin.length, 16);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin!.write(Buffer.concat([head, strings, stdin]));
    });
  }

  private onData(chunk: Buffer): void {
    this.received = this.received.length ? Buffer.concat([this.received, chunk]) : chunk;
    while (this.received.length >= 4) {
      const len = this.received.readUInt32LE(0);
      if (this.received.length < 4 + len) return;
      const frame = this.received.subarray(4, 4 + len);
      this.received = this.received.subarray(4 + len);
      const [id, code, signal, spawnErrno, outLen] = [0, 4, 8, 12, 16].map((o) => frame.readUInt32LE(o)) as [number, number, number, number, number];
      const p = this.pending.get(id);
      if (!p) continue;
      this.pending.delete(id);
      p.resolve({
        code: code | 0,
        ...(signal ? { signal: signalNames.get(signal) ?? String(signal) } : {}),
        ...(spawnErrno ? { spawnError: errnoNames.get(spawnErrno) ?? String(spawnErrno) } : {}),
        stdout: frame.subarray(24, 24 + outLen).toString(),
        stderr: frame.subarray(24 + outLen).toString(),
      });
    }
  }
}
