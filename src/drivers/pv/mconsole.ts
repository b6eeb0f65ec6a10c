/**
 * @module A typed client of UML's management console (mconsole): datagrams on a unix
 * socket, each request a magic, a version, a length and up to 512 bytes of text; each
 * reply an error flag, a "more follows" flag, a length and text.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type * as UnixDgram from 'unix-dgram';

const magic = 0xcafebabe;
const version = 2;
const maxData = 512;

export class MconsoleError extends Error {}

export function encodeRequest(command: string): Buffer {
  const data = Buffer.from(command);
  if (data.length >= maxData) throw new MconsoleError(`mconsole command longer than ${maxData - 1} bytes`);
  const buf = Buffer.alloc(12 + data.length);
  buf.writeUInt32LE(magic, 0);
  buf.writeUInt32LE(version, 4);
  buf.writeUInt32LE(data.length, 8);
  data.copy(buf, 12);
  return buf;
}

export function decodeReply(buf: Buffer): { err: boolean; more: boolean; text: string } {
  if (buf.length < 12) throw new MconsoleError(`short mconsole reply (${buf.length} bytes)`);
  const len = Math.min(buf.readUInt32LE(8), buf.length - 12);
  return { err: buf.readUInt32LE(0) !== 0, more: buf.readUInt32LE(4) !== 0, text: buf.subarray(12, 12 + len).toString().replace(/\0+$/, '') };
}

export class Mconsole {
  readonly socketPath: string;
  private readonly clientDir: string;
  private readonly unix: typeof UnixDgram;

  /** `clientDir` holds this side's socket: the guest answers to an address, so we bind one. */
  constructor(socketPath: string, clientDir: string, unix: typeof UnixDgram) {
    this.socketPath = socketPath;
    this.clientDir = clientDir;
    this.unix = unix;
  }

  async command(text: string, timeoutMs = 5000): Promise<string> {
    const unix = this.unix;
    const own = path.join(this.clientDir, `mc-${randomBytes(4).toString('hex')}.sock`);
    let reply = '';
    const socket = unix.createSocket('unix_dgram');
    try {
      return await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new MconsoleError(`mconsole ${text}: no answer in ${timeoutMs} ms`)), timeoutMs);
        socket.on('error', (e: Error) => {
          clearTimeout(timer);
          reject(new MconsoleError(`mconsole ${text}: ${e.message}`));
        });
        socket.on('message', (msg: Buffer) => {
          const part = decodeReply(msg);
          reply += part.text;
          if (part.more) return;
          clearTimeout(timer);
          if (part.err) reject(new MconsoleError(`mconsole ${text}: ${reply || 'refused'}`));
          else resolve(reply);
        });
        socket.bind(own);
        // the guest's UML runs as another user: it must be allowed to answer to our socket
        chmodSync(own, 0o666);
        const req = encodeRequest(text);
        socket.send(req, 0, req.length, this.socketPath);
      });
    } finally {
      socket.close();
      await rm(own, { force: true });
    }
  }

  version = () => this.command('version');
  /** Pauses the whole guest: UML then serves only the mconsole until `go`. */
  stop = () => this.command('stop');
  go = () => this.command('go');
  /** Ctrl-Alt-Del: the guest's init decides what it means (Lodge's images power off). */
  cad = () => this.command('cad');
  halt = () => this.command('halt');
  reboot = () => this.command('reboot');
  /**
   * Answers with what the kernel printed for it. A long answer (sysrq m, t) comes in more
   * datagrams than a unix socket queues by default (net.unix.max_dgram_qlen, 10) and may
   * then never end: use those keys on the console instead.
   */
  sysrq = (key: string) => this.command(`sysrq ${key}`, 10_000);
  config = (device: string, value?: string) => this.command(value === undefined ? `config ${device}` : `config ${device}=${value}`);
  remove = (device: string) => this.command(`remove ${device}`);
}
