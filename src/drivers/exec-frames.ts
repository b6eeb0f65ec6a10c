/**
 * @module The frames lodged and lodge-execd (shim/lodge-execd.c, exec as streams in vm
 * guests) exchange on the virtio-serial port org.lodge.exec.0: a type byte, a channel and a
 * length (4 bytes each, big-endian), then the payload. Each side begins with `magic`. What
 * the guest sends is untrusted: a frame of a type the host does not take, or longer than
 * any the agent writes, ends the link with an ExecLinkError.
 */

export class ExecLinkError extends Error {}
/** No agent answered on the port in time: none runs there, or it has not started yet. */
export class ExecAgentSilent extends ExecLinkError {}

/** The agent's first bytes on a connection, after which its frames begin. */
export const magic = Buffer.from('\nLODGE-EXEC/1\n');
/**
 * lodged's, unlike the agent's (an echo is no answer); said again until the agent answers:
 * an agent halfway through a frame of a lodged that went away drops it after a second without
 * input (a pv guest's line does not hang up as a vm's port does).
 */
export const hostMagic = Buffer.from('\nLODGE-HOST/1\n');
/** How often lodged says its magic while it waits for the agent's. */
export const greetEveryMs = 600;
/** The most either side puts in one frame (the agent refuses more). */
export const maxFrameBytes = 64 * 1024;
/** Bytes of a channel's output, and at most of its input, that may be in flight unacknowledged (as in lodge-execd). */
export const windowBytes = 256 * 1024;
const header = 9;

export const hostFrame = { open: 1, stdin: 2, stdinEnd: 3, signal: 4, ack: 5, close: 6, resize: 7 } as const;
export const guestFrame = { failed: 17, stdout: 18, stderr: 19, ack: 20, exit: 21 } as const;
type GuestFrameType = (typeof guestFrame)[keyof typeof guestFrame];
const guestTypes = new Set<number>(Object.values(guestFrame));

export interface GuestFrame {
  type: GuestFrameType;
  channel: number;
  payload: Buffer;
}

export function encodeFrame(type: number, channel: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(header);
  h[0] = type;
  h.writeUInt32BE(channel, 1);
  h.writeUInt32BE(payload.length, 5);
  return Buffer.concat([h, payload]);
}

export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** OPEN's payload: flags (1: on a terminal), argc and envc, then argv, env (NAME=VALUE) and the working directory, each ended by a NUL. */
export function openPayload(argv: string[], env: string[], cwd: string, terminal = false): Buffer {
  const strings = [...argv, ...env, cwd];
  if (strings.some((s) => s.includes('\0'))) throw new ExecLinkError('a command, variable or directory holds a NUL byte');
  const counts = Buffer.alloc(5);
  counts[0] = terminal ? 1 : 0;
  counts.writeUInt16BE(argv.length, 1);
  counts.writeUInt16BE(env.length, 3);
  const payload = Buffer.concat([counts, ...strings.map((s) => Buffer.from(`${s}\0`))]);
  if (payload.length > maxFrameBytes) throw new ExecLinkError(`the command, its variables and directory take ${payload.length} bytes, more than the ${maxFrameBytes / 1024} KiB this kind's exec takes (put a long script in a file: lodge file push)`);
  return payload;
}

/** RESIZE's payload: a terminal's columns and rows. */
export function sizePayload(cols: number, rows: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(cols, 0);
  b.writeUInt16BE(rows, 2);
  return b;
}

/** Why the agent could not start a command: at its chdir or its exec, with errno and strerror's words. */
export function parseFailure(payload: Buffer): { at: 'exec' | 'chdir'; errno: number; words: string } {
  if (payload.length < 5) throw new ExecLinkError('the exec agent sent a failure too short to read');
  const words = payload.subarray(5, 5 + 300).toString('utf8').replace(/[\x00-\x1f\x7f]/g, ' ').trim();
  return { at: payload[0] === 1 ? 'chdir' : 'exec', errno: payload.readUInt32BE(1), words: words || 'an error without words' };
}

/** A wait status as a shell tells it: the exit code, or 128 + the signal's number. */
export function exitCode(status: number): number {
  const signal = status & 0x7f;
  return signal === 0 ? (status >> 8) & 0xff : 128 + signal;
}

/** The agent's bytes as frames, after its magic (what comes before, an earlier connection's, is dropped). */
export class FrameReader {
  private synced = false;
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): GuestFrame[] {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    if (!this.synced) {
      const at = this.buffer.indexOf(magic);
      if (at < 0) {
        this.buffer = this.buffer.subarray(Math.max(0, this.buffer.length - magic.length));
        return [];
      }
      this.buffer = this.buffer.subarray(at + magic.length);
      this.synced = true;
    }
    const frames: GuestFrame[] = [];
    let off = 0;
    while (this.buffer.length - off >= header) {
      const type = this.buffer[off]!;
      const length = this.buffer.readUInt32BE(off + 5);
      if (!guestTypes.has(type)) throw new ExecLinkError(`the exec agent sent a frame of unknown type ${type}`);
      if (length > maxFrameBytes) throw new ExecLinkError(`the exec agent sent a frame of ${length} bytes (at most ${maxFrameBytes})`);
      if (this.buffer.length - off < header + length) break;
      frames.push({ type: type as GuestFrameType, channel: this.buffer.readUInt32BE(off + 1), payload: this.buffer.subarray(off + header, off + header + length) });
      off += header + length;
    }
    // the rest is copied: a payload handed out must not keep the whole chunk behind it alive for long
    this.buffer = Buffer.from(this.buffer.subarray(off));
    return frames;
  }

  get isSynced(): boolean {
    return this.synced;
  }
}
