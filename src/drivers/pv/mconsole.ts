/**
 * @module A typed client of UML's management console (mconsole): datagrams on a unix
 * socket, each request a magic, a version, a length and up to 512 bytes of text; each
 * reply an error flag, a "more follows" flag, a length and text. UML runs a guest's code,
 * so its socket may have become a link and its replies anything: the request goes to the
 * socket without following a link, and a malformed or endless reply fails that command.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { lstat, rm } from 'node:fs/promises';
import path from 'node:path';
import type * as UnixDgram from 'unix-dgram';
import { withUntrustedSocket } from '../../host/untrusted-file.js';

const magic = 0xcafebabe;
const version = 2;
const maxData = 512;
/** What one command's reply may add up to, over all its datagrams. */
export const maxReplyBytes = 64 * 1024;

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

  /**
   * `clientDir` holds this side's socket: the guest answers to an address, so we bind one
   * and let the guest's user write to it. Only root may write to `clientDir`, so that the
   * socket's name cannot be swapped for a link between the bind and the chmod.
   */
  constructor(socketPath: string, clientDir: string, unix: typeof UnixDgram) {
    this.socketPath = socketPath;
    this.clientDir = clientDir;
    this.unix = unix;
  }

  async command(text: string, timeoutMs = 5000): Promise<string> {
    const req = encodeRequest(text);
    const dir = await lstat(this.clientDir);
    if (!dir.isDirectory() || dir.uid !== 0 || (dir.mode & 0o022) !== 0) {
      throw new MconsoleError(`mconsole ${text}: ${this.clientDir} must be a directory only root may write to`);
    }
    const own = path.join(this.clientDir, `mc-${randomBytes(4).toString('hex')}.sock`);
    const socket = this.unix.createSocket('unix_dgram');
    try {
      return await withUntrustedSocket(this.socketPath, `the mconsole socket`, (server) =>
        new Promise<string>((resolve, reject) => {
          let reply = '';
          const timer = setTimeout(() => reject(new MconsoleError(`mconsole ${text}: no answer in ${timeoutMs} ms`)), timeoutMs);
          const fail = (e: Error) => {
            clearTimeout(timer);
            reject(new MconsoleError(`mconsole ${text}: ${e.message}`));
          };
          socket.on('error', fail);
          socket.on('message', (msg: Buffer) => {
            try {
              const part = decodeReply(msg);
              reply += part.text;
              if (reply.length > maxReplyBytes) throw new MconsoleError(`reply longer than ${maxReplyBytes} bytes`);
              if (part.more) return;
              clearTimeout(timer);
              if (part.err) reject(new MconsoleError(`mconsole ${text}: ${reply || 'refused'}`));
              else resolve(reply);
            } catch (e) {
              fail(e as Error);
            }
          });
          let bound = false;
          socket.once('listening', () => (bound = true));
          socket.bind(own);
          if (!bound) return;
          // the guest's UML runs as another user: it must be allowed to answer to our socket
          chmodSync(own, 0o666);
          socket.send(req, 0, req.length, server);
        }),
      );
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
