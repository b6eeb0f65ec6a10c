/**
 * @module lodged's end of lodge-execd: one connection to a vm guest's exec port, and the
 * commands running over it, each a channel with its input and output as streams. Each
 * direction of a channel has a window: the agent sends output only as far as lodged has
 * passed on what came before (so a client that reads slowly stalls its own command and no
 * other), and lodged sends input only as far as the command has taken it. A guest that breaks
 * the protocol ends the link: every command on it fails with the reason, and lodged holds no
 * more than a window of any of them.
 */
import net from 'node:net';
import { constants } from 'node:os';
import { Readable, Writable } from 'node:stream';
import { LodgeError } from '../api/errors.js';
import { execPath, type ExecRequest, type ExecSignal } from '../api/guests.js';
import { withUntrustedSocket } from '../host/untrusted-file.js';
import type { Answering, GuestRef, TerminalProcess, TerminalSize } from './driver.js';
import { cannotRun } from './exec-failure.js';
import { hangUpWhenQuiet } from './port-hangup.js';
import { encodeFrame, ExecAgentSilent, ExecLinkError, exitCode, FrameReader, type GuestFrame, guestFrame, greetEveryMs, hostFrame, hostMagic, maxFrameBytes, openPayload, parseFailure, sizePayload, u32, windowBytes } from './exec-frames.js';

interface Channel {
  stdout: Readable;
  stderr: Readable;
  /** Output passed to a reader that was full: acknowledged once it reads again. */
  held: number;
  /** Output the agent may still send before it waits for an acknowledgement. */
  outstanding: number;
  /** Input the command may still be sent. */
  inputCredit: number;
  creditWaiters: Array<() => void>;
  /** lodged has asked the agent to end it: its output until EXIT is dropped. */
  closed: boolean;
  /** The agent could not start it: the message on stderr, and the exit code. */
  failed: (payload: Buffer) => number;
  /** Ends its outputs and settles its exit (an error: the link broke). */
  settle: (code: number | Error) => void;
}

export class ExecLink {
  private readonly socket: net.Socket;
  private readonly reader = new FrameReader();
  private readonly channels = new Map<number, Channel>();
  private nextChannel = 1;
  /** Why the link ended, once it has. */
  ended: Error | undefined;
  private synced: () => void = () => {};
  /** While connecting: told why the link ended before the agent answered. */
  private endedEarly: (why: Error) => void = () => {};

  private readonly inputWindow: number;

  private readonly qemuPort: boolean;

  private constructor(socket: net.Socket, inputWindow: number, qemuPort: boolean) {
    this.socket = socket;
    this.inputWindow = inputWindow;
    this.qemuPort = qemuPort;
    socket.on('data', (chunk: Buffer) => {
      if (this.ended) return;
      try {
        const wasSynced = this.reader.isSynced;
        const frames = this.reader.push(chunk);
        if (!wasSynced && this.reader.isSynced) this.synced();
        for (const f of frames) this.receive(f);
      } catch (e) {
        this.end(e instanceof ExecLinkError ? e : new ExecLinkError(`the exec agent: ${(e as Error).message}`), true);
      }
    });
    socket.on('error', (e) => this.end(new ExecLinkError(`the exec port: ${e.message}`)));
    socket.on('close', () => this.end(new ExecLinkError("the exec port's connection closed")));
  }

  /**
   * Connects to the port's socket (`path`: lodged's own name for it) and waits for the agent's
   * magic. `inputWindow`: the stdin a command may have in flight (a pv guest's serial line
   * stalls once its terminal's buffer of 4 KiB overflows). `greetAgain`: the magic is said
   * again every 600 ms until answered (an agent halfway through a frame of an earlier link
   * drops it after a second); a probe says it once, so that asking an agent that is stopped
   * does not fill its line. `qemuPort`: the socket is a QEMU virtio-serial port's, and a link
   * that fails is hung up only once the guest is quiet (port-hangup.ts); lodge-shim's relay of
   * a pv guest's line takes a new link only once the last is gone.
   */
  static async connect(path: string, timeoutMs: number, options: LinkOptions = {}): Promise<ExecLink> {
    const { inputWindow = windowBytes, greetAgain = true, qemuPort = false } = options;
    const link = new ExecLink(net.connect(path), Math.min(inputWindow, windowBytes), qemuPort);
    try {
      await new Promise<void>((resolve, reject) => {
        const greet = () => link.socket.write(hostMagic);
        const again = greetAgain ? setInterval(greet, greetEveryMs) : undefined;
        const timer = setTimeout(() => reject(new ExecAgentSilent(`the exec agent did not answer in ${timeoutMs} ms`)), timeoutMs);
        const stop = () => {
          clearInterval(again);
          clearTimeout(timer);
        };
        link.synced = () => {
          stop();
          resolve();
        };
        link.endedEarly = (why) => {
          stop();
          reject(why);
        };
        greet();
      });
      return link;
    } catch (e) {
      link.end(e as Error, true);
      throw e;
    }
  }

  get busy(): boolean {
    return this.channels.size > 0;
  }

  close(): void {
    this.end(new ExecLinkError('the exec link was closed'));
  }

  /**
   * Starts `request` in the guest (`guest` names it in messages): its streams at once, its
   * failure to start through `exit`; with `terminal`, on a pty of the guest's of that size.
   */
  open(guest: string, request: ExecRequest, terminal?: TerminalSize): TerminalProcess {
    if (this.ended) throw this.ended;
    let id = this.nextChannel;
    while (this.channels.has(id)) id = (id % 0xffff_ffff) + 1;
    this.nextChannel = (id % 0xffff_ffff) + 1;
    const env = Object.entries({ PATH: execPath, HOME: '/root', ...(terminal ? { TERM: 'xterm-256color' } : {}), ...request.env }).map(([k, v]) => `${k}=${v}`);
    const send = (type: number, payload?: Buffer) => {
      if (!this.ended) this.socket.write(encodeFrame(type, id, payload));
    };

    const command = request.command[0]!;
    let settle: (code: number | Error) => void = () => {};
    const exit = new Promise<number>((resolve, reject) => {
      settle = (code) => (typeof code === 'number' ? resolve(code) : reject(code));
    });
    const output = () =>
      new Readable({
        read: () => this.acknowledge(id, channel),
      });
    const channel: Channel = {
      stdout: output(),
      stderr: output(),
      held: 0,
      outstanding: windowBytes,
      inputCredit: this.inputWindow,
      creditWaiters: [],
      closed: false,
      failed: (payload) => {
        const why = parseFailure(payload);
        const { message, exitCode: code } =
          why.at === 'chdir' ? { message: `lodge: --cwd ${request.cwd}: ${why.words} in ${guest}\n`, exitCode: 126 } : cannotRun(guest, command, why.errno === constants.errno.ENOENT ? undefined : why.words);
        channel.stderr.push(message);
        return code;
      },
      settle: (code) => {
        for (const w of channel.creditWaiters.splice(0)) w();
        if (typeof code === 'number') {
          channel.stdout.push(null);
          channel.stderr.push(null);
          return settle(code);
        }
        const error = new LodgeError('ENGINE_FAILED', `exec in ${guest}: ${code.message}`, { cause: code });
        channel.stdout.destroy(error);
        channel.stderr.destroy(error);
        settle(error);
      },
    };
    channel.stdout.on('error', () => {}); // told through exit
    channel.stderr.on('error', () => {});
    try {
      send(hostFrame.open, openPayload(request.command, env, request.cwd ?? '', terminal !== undefined));
      if (terminal) send(hostFrame.resize, sizePayload(terminal.cols, terminal.rows));
    } catch (e) {
      throw new LodgeError('BAD_REQUEST', `exec in ${guest}: ${(e as Error).message}`);
    }
    this.channels.set(id, channel);

    const stdin = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        void (async () => {
          for (let off = 0; off < chunk.length; ) {
            while (channel.inputCredit === 0 && this.channels.get(id) === channel) await new Promise<void>((r) => channel.creditWaiters.push(r));
            if (this.channels.get(id) !== channel) return; // it has ended, which exit tells
            const n = Math.min(chunk.length - off, channel.inputCredit, maxFrameBytes);
            channel.inputCredit -= n;
            send(hostFrame.stdin, chunk.subarray(off, off + n));
            off += n;
          }
        })().then(() => done(), done);
      },
      final: (done) => {
        if (this.channels.get(id) === channel) send(hostFrame.stdinEnd);
        done();
      },
    });
    stdin.on('error', () => {}); // told through exit

    return {
      stdin,
      stdout: channel.stdout,
      stderr: channel.stderr,
      exit,
      signal: (name: ExecSignal) => {
        if (!channel.closed && this.channels.get(id) === channel) send(hostFrame.signal, Buffer.from([constants.signals[`SIG${name}`]]));
      },
      kill: () => {
        if (channel.closed || this.channels.get(id) !== channel) return;
        channel.closed = true;
        send(hostFrame.close);
      },
      resize: (cols: number, rows: number) => {
        if (!channel.closed && this.channels.get(id) === channel) send(hostFrame.resize, sizePayload(cols, rows));
      },
    };
  }

  private receive(f: GuestFrame): void {
    const c = this.channels.get(f.channel);
    if (!c) return; // a channel lodged did not open, or one already ended: nothing of lodged's
    switch (f.type) {
      case guestFrame.stdout:
      case guestFrame.stderr: {
        if (f.payload.length > c.outstanding) throw new ExecLinkError(`the exec agent sent ${f.payload.length} bytes of output past its window`);
        c.outstanding -= f.payload.length;
        if (c.closed) return;
        c.held += f.payload.length;
        const stream = f.type === guestFrame.stdout ? c.stdout : c.stderr;
        // acknowledged at once while its reader keeps up, else once it reads again
        if (stream.push(f.payload)) this.acknowledge(f.channel, c);
        return;
      }
      case guestFrame.ack: {
        if (f.payload.length !== 4) throw new ExecLinkError('the exec agent sent an acknowledgement of the wrong size');
        c.inputCredit = Math.min(this.inputWindow, c.inputCredit + f.payload.readUInt32BE(0));
        for (const w of c.creditWaiters.splice(0)) w();
        return;
      }
      case guestFrame.failed:
        return this.finish(f.channel, c, c.failed(f.payload));
      case guestFrame.exit:
        if (f.payload.length !== 4) throw new ExecLinkError('the exec agent sent an exit status of the wrong size');
        return this.finish(f.channel, c, exitCode(f.payload.readUInt32BE(0)));
    }
  }

  /** Tells the agent the output held for `c` has been passed on: as much more may come. */
  private acknowledge(id: number, c: Channel): void {
    if (!c.held || this.ended || this.channels.get(id) !== c) return;
    this.socket.write(encodeFrame(hostFrame.ack, id, u32(c.held)));
    c.outstanding += c.held;
    c.held = 0;
  }

  private finish(id: number, c: Channel, code: number | Error): void {
    this.channels.delete(id);
    c.settle(code);
  }

  /** Ends the link: every command still on it fails with `why`; a guest that broke the protocol or never answered is hung up on once quiet. */
  private end(why: Error, whenQuiet = false): void {
    if (this.ended) return;
    this.ended = why;
    this.endedEarly(why);
    if (whenQuiet && this.qemuPort) hangUpWhenQuiet(this.socket);
    else this.socket.destroy();
    for (const [id, c] of [...this.channels]) this.finish(id, c, why);
  }
}

/** How a link is made and ended: see ExecLink.connect. */
export interface LinkOptions {
  inputWindow?: number;
  greetAgain?: boolean;
  qemuPort?: boolean;
}

/** A guest's link while commands run over it; `failed` and `connected` are read without waiting. */
interface SharedLink {
  link: Promise<ExecLink>;
  connected?: ExecLink;
  failed: boolean;
  users: number;
}

/** Per guest, the link its streamed execs share while any runs: a port serves one client at a time. */
export class ExecLinks {
  private readonly links = new Map<string, SharedLink>();
  private readonly syncMs: number;
  private readonly options: LinkOptions;

  constructor(syncMs: number, options: LinkOptions = {}) {
    this.syncMs = syncMs;
    this.options = options;
  }

  /** Starts `request` over the guest's link on `socket` (reached without following a link), made if none is up; with `terminal`, on a pty of the guest's. */
  async open(guest: GuestRef, socket: string, request: ExecRequest, terminal?: TerminalSize): Promise<TerminalProcess> {
    const { shared, release } = this.share(guest, socket);
    try {
      const link = await shared.link;
      const proc = link.open(guest.name, request, terminal);
      void proc.exit.then(release, release);
      return proc;
    } catch (e) {
      release();
      if (e instanceof ExecAgentSilent) throw new LodgeError('UNAVAILABLE', `exec in ${guest.name}: its exec agent (lodge-execd) does not answer`, { cause: e });
      if (e instanceof ExecLinkError) throw new LodgeError('ENGINE_FAILED', `exec in ${guest.name}: ${e.message}`, { cause: e });
      throw e;
    }
  }

  /**
   * Whether the guest's lodge-execd answers: the link its commands share while one runs (it
   * answers as long as it lasts), or one made for the asking and closed, shared meanwhile by any
   * exec that starts (the port serves one client at a time).
   */
  async ping(guest: GuestRef, socket: string): Promise<Answering> {
    const { shared, release } = this.share(guest, socket, false);
    try {
      await shared.link;
      return { answers: true };
    } catch (e) {
      return { answers: false, why: (e as Error).message };
    } finally {
      release();
    }
  }

  /** The guest's link, made if none is up, and its release: the last user closes it. */
  private share(guest: GuestRef, socket: string, greetAgain = true): { shared: SharedLink; release: () => void } {
    let shared = this.links.get(guest.id);
    if (!shared || shared.failed || shared.connected?.ended) {
      const made: SharedLink = {
        users: 0,
        failed: false,
        link: withUntrustedSocket(socket, `the exec socket of ${guest.name}`, (name) => ExecLink.connect(name, this.syncMs, { ...this.options, greetAgain })).then(
          (link) => (made.connected = link),
          (e: Error) => {
            made.failed = true;
            throw e;
          },
        ),
      };
      this.links.set(guest.id, (shared = made));
    }
    const mine = shared;
    mine.users++;
    const release = () => {
      if (--mine.users > 0) return;
      if (this.links.get(guest.id) === mine) this.links.delete(guest.id);
      mine.link.then((link) => link.close(), () => {});
    };
    return { shared: mine, release };
  }
}

/** exec -t in a guest where lodge-execd does not run: still booting, or an image without it. */
export function execdMissing(guest: string): LodgeError {
  return new LodgeError('UNAVAILABLE', `exec -t in ${guest}: lodge-execd does not answer in it (Lodge's images run it; in an image without it, lodge console ${guest} is its terminal)`);
}
