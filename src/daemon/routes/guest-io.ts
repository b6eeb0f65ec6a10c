/**
 * @module A guest's input and output: exec (with output, or interactive on a pty over
 * WebSocket), the console (live over WebSocket, or what it has printed so far), and a vm's
 * VGA screen (its VNC over WebSocket).
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import * as pty from 'node-pty';
import type { WebSocket } from 'ws';
import { NameParams } from '../../api/common.js';
import { LodgeError } from '../../api/errors.js';
import { execChannel, ExecControlFrame, ExecPost, type ExecRequest, ExecResult, ExecWsQuery } from '../../api/guests.js';
import type { ExecProcess, TerminalProcess } from '../../drivers/driver.js';
import type { ServerDeps } from '../deps.js';
import { bodyLimit, refuse } from '../errors.js';
import { frameChecker } from '../validation.js';

const LogQuery = Type.Object({}, { additionalProperties: false });

/** A plain GET on a WebSocket endpoint. */
async function needsUpgrade(): Promise<never> {
  throw new LodgeError('BAD_REQUEST', 'this endpoint is a WebSocket: send an Upgrade request');
}

type Sink = (data: Buffer, isBinary: boolean) => void;

const checkControlFrame = frameChecker(ExecControlFrame, 'exec control frame');

/**
 * Holds what the client sends while the route is still finding the guest (a handler
 * attached after an await would miss it), and hands it to the sink once there is one; past
 * the body limit the client is paused until then (a vm's exec link takes a moment to make,
 * while a client may have megabytes of stdin ready). A sink that throws (a bad frame) ends
 * this connection, never lodged.
 */
function inbox(socket: WebSocket): (sink: Sink) => void {
  const early: Array<[Buffer, boolean]> = [];
  let earlyBytes = 0;
  let deliver: Sink = (data, isBinary) => {
    earlyBytes += data.length;
    if (earlyBytes > bodyLimit) socket.pause();
    early.push([data, isBinary]);
  };
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    try {
      deliver(data, isBinary);
    } catch (e) {
      refuse(socket, e);
    }
  });
  return (sink) => {
    deliver = sink;
    // before the held frames: the sink pauses the client again if they fill what it feeds
    socket.resume();
    for (const [data, isBinary] of early.splice(0)) {
      try {
        sink(data, isBinary);
      } catch (e) {
        return refuse(socket, e);
      }
    }
  };
}

/** Output waiting in lodged for a client that does not read, above which its source is paused. */
const highWater = 1 << 20;

/**
 * Sends a source's output to a client at the client's pace: with more than `highWater`
 * bytes waiting to go out, the source (a pty, a console socket) is paused until they have
 * gone, so a client that stops reading costs lodged that much memory, not all the guest writes.
 */
function pacedSender(socket: WebSocket, source: { pause(): void; resume(): void }): (data: Buffer) => void {
  let paused = false;
  const sent = () => {
    if (paused && socket.bufferedAmount < highWater / 2) {
      paused = false;
      source.resume();
    }
  };
  return (data) => {
    if (socket.readyState !== socket.OPEN) return;
    socket.send(data, sent);
    if (!paused && socket.bufferedAmount > highWater) {
      paused = true;
      source.pause();
    }
  };
}

/**
 * Bytes node-pty holds for a pty that its command does not read. node-pty (1.1) queues
 * writes without bound and has no public measure, so this reads its queue; 0 if it moved.
 */
function ptyBacklog(term: pty.IPty): number {
  const queue = (term as unknown as { _writeStream?: { _writeQueue?: Array<{ buffer: Buffer; offset: number }> } })._writeStream?._writeQueue;
  return Array.isArray(queue) ? queue.reduce((sum, t) => sum + t.buffer.length - t.offset, 0) : 0;
}

/** Writes a client's input to the pty, pausing the client while its command has more than `highWater` bytes unread. */
function pacedInput(socket: WebSocket, term: pty.IPty): (data: Buffer) => void {
  let waiting: NodeJS.Timeout | undefined;
  return (data) => {
    term.write(data.toString('binary'));
    if (waiting || ptyBacklog(term) <= highWater) return;
    socket.pause();
    waiting = setInterval(() => {
      if (socket.readyState === socket.OPEN && ptyBacklog(term) >= highWater / 2) return;
      clearInterval(waiting);
      waiting = undefined;
      socket.resume();
    }, 50);
  };
}

/**
 * Joins a client to a stream socket (a console, a screen): what it says goes to the client at
 * the client's pace, and what the client sends (through the returned function) at the
 * socket's; either end closing closes the other. A client that left while the route was
 * finding the socket gets it closed at once.
 */
function bridge(socket: WebSocket, conn: net.Socket, what: string): (data: Buffer) => void {
  conn.on('data', pacedSender(socket, conn));
  conn.on('drain', () => socket.resume());
  conn.on('error', (e) => refuse(socket, new LodgeError('ENGINE_FAILED', `${what} failed`, { cause: e })));
  conn.on('close', () => socket.readyState === socket.OPEN && socket.close(1000));
  socket.on('close', () => conn.destroy());
  if (socket.readyState !== socket.OPEN) conn.destroy();
  return (data) => {
    if (conn.writable && !conn.write(data)) socket.pause();
  };
}

/** The query's NAME=VALUE pairs as an exec's variables (the schema has checked their form). */
function envPairs(pairs: string | string[]): Record<string, string> {
  return Object.fromEntries(([] as string[]).concat(pairs).map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
}

/**
 * Ends an exec's connection with its exit code. Reading again first: a socket paused for a
 * command that stopped reading its input would never take the client's close, and the
 * connection would hang to ws's close timeout (`yes | lodge exec g -- head -1`).
 */
function sendExit(socket: WebSocket, exitCode: number): void {
  socket.resume();
  if (socket.readyState !== socket.OPEN) return;
  socket.send(JSON.stringify({ exit: exitCode }));
  socket.close(1000);
}

/** An interactive command on a pty: the terminal's bytes both ways, resize frames in. */
function execOnPty(socket: WebSocket, receive: (sink: Sink) => void, term: pty.IPty): void {
  let exited = false;
  // node-pty throws a read error of the pty other than its end (EIO) when nothing listens
  (term as unknown as NodeJS.EventEmitter).on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EIO' && e.code !== 'EAGAIN') refuse(socket, e);
  });
  const send = pacedSender(socket, term);
  const input = pacedInput(socket, term);
  term.onData((d) => send(Buffer.from(d, 'binary')));
  term.onExit(({ exitCode }) => {
    exited = true;
    sendExit(socket, exitCode);
  });
  receive((data, isBinary) => {
    if (exited) return;
    if (isBinary) return input(data);
    const frame = checkControlFrame(data.toString());
    if (!('resize' in frame)) throw new LodgeError('BAD_REQUEST', 'exec control frame: on a pty only {"resize":[cols,rows]} is taken (its input is the terminal\'s: Ctrl-C, Ctrl-D)');
    term.resize(frame.resize[0], frame.resize[1]);
  });
  socket.on('close', () => term.kill('SIGHUP'));
}

/**
 * A command on pipes: stdin from binary frames (the client paused while the command does not
 * read), stdout and stderr as binary frames tagged with their channel at the client's pace,
 * the exit code once both have ended. A client that leaves ends the command. On a terminal
 * of the guest's own (`terminal`: vm and pv through lodge-execd), its output goes untagged
 * and the only control frame is a resize, as on a pty of lodged's.
 */
function execOnStreams(socket: WebSocket, receive: (sink: Sink) => void, proc: ExecProcess, terminal?: TerminalProcess): void {
  const pass = (source: Readable, tag?: number) => {
    const send = pacedSender(socket, source);
    source.on('data', (b: Buffer) => send(tag === undefined ? b : Buffer.concat([Buffer.of(tag), b])));
  };
  pass(proc.stdout, terminal ? undefined : execChannel.stdout);
  pass(proc.stderr, terminal ? undefined : execChannel.stderr);
  proc.stdin.on('drain', () => socket.resume());
  let ended = false;
  proc.exit.then(
    (code) => {
      ended = true;
      sendExit(socket, code);
    },
    (e: unknown) => {
      ended = true;
      refuse(socket, e);
    },
  );
  receive((data, isBinary) => {
    if (ended) return;
    if (isBinary) {
      if (!proc.stdin.writableEnded && !proc.stdin.write(data)) socket.pause();
      return;
    }
    const frame = checkControlFrame(data.toString());
    if (terminal) {
      if (!('resize' in frame)) throw new LodgeError('BAD_REQUEST', "exec control frame: on a pty only {\"resize\":[cols,rows]} is taken (its input is the terminal's: Ctrl-C, Ctrl-D)");
      return terminal.resize(frame.resize[0], frame.resize[1]);
    }
    if ('eof' in frame) proc.stdin.end();
    else if ('signal' in frame) proc.signal(frame.signal);
    else throw new LodgeError('BAD_REQUEST', 'exec control frame: resize is for stdio=pty; a command on pipes has no terminal');
  });
  socket.on('close', () => ended || proc.kill());
}

export function guestIoRoutes(app: FastifyInstance, { guests }: ServerDeps): void {
  app.post<{ Params: NameParams; Body: ExecPost }>(
    '/1.0/guests/:name/exec',
    { schema: { tags: ['guests'], summary: 'Run a command in a guest and return its exit code and output', params: NameParams, body: ExecPost, response: { 200: ExecResult } } },
    (request) => guests.exec(request.params.name, request.body),
  );

  app.route<{ Params: NameParams; Querystring: ExecWsQuery }>({
    method: 'GET',
    url: '/1.0/guests/:name/exec',
    schema: {
      tags: ['guests'],
      summary:
        'A command as it runs (WebSocket). stdio=pty: on a terminal, binary frames both ways, text frames {"resize":[cols,rows]} in. stdio=pipes: binary frames in are stdin, out are stdout or stderr (the first byte 1 or 2); text frames {"eof":true} and {"signal":"INT"} in. Both end with {"exit":code} out',
      params: NameParams,
      querystring: ExecWsQuery,
    },
    handler: needsUpgrade,
    wsHandler: async (socket, request) => {
      const receive = inbox(socket);
      const q = request.query;
      const req: ExecRequest = { command: ([] as string[]).concat(q.command), ...(q.env ? { env: envPairs(q.env) } : {}), ...(q.cwd ? { cwd: q.cwd } : {}) };
      try {
        if (q.stdio === 'pipes') return execOnStreams(socket, receive, await guests.execStream(request.params.name, req));
        const size = { cols: q.cols ?? 80, rows: q.rows ?? 24 };
        const on = await guests.interactive(request.params.name, req, size);
        if (!('argv' in on)) return execOnStreams(socket, receive, on, on);
        execOnPty(socket, receive, pty.spawn(on.argv[0]!, on.argv.slice(1), { name: 'xterm-256color', ...size, env: process.env as Record<string, string> }));
      } catch (e) {
        refuse(socket, e);
      }
    },
  });

  app.route<{ Params: NameParams }>({
    method: 'GET',
    url: '/1.0/guests/:name/console',
    schema: { tags: ['guests'], summary: 'The guest console (WebSocket, binary frames both ways)', params: NameParams },
    handler: needsUpgrade,
    wsHandler: async (socket, request) => {
      const receive = inbox(socket);
      try {
        const paths = await guests.console(request.params.name, true);
        const input = bridge(socket, net.connect(paths.socket), `the console of ${request.params.name}`);
        receive((data) => input(data));
      } catch (e) {
        refuse(socket, e);
      }
    },
  });

  app.route<{ Params: NameParams }>({
    method: 'GET',
    url: '/1.0/guests/:name/vga',
    schema: {
      tags: ['guests'],
      summary: "The VGA screen of a vm guest in VNC, as noVNC speaks it (WebSocket, binary frames only: a text frame ends it). It types into the guest: admin only. No VNC port opens: lodged bridges to the guest's own VNC socket",
      params: NameParams,
    },
    handler: needsUpgrade,
    wsHandler: async (socket, request) => {
      const receive = inbox(socket);
      try {
        const input = bridge(socket, await guests.vga(request.params.name), `the VGA screen of ${request.params.name}`);
        receive((data, isBinary) => {
          if (!isBinary) throw new LodgeError('BAD_REQUEST', 'the VGA screen takes binary frames only (VNC): a text frame ends it');
          input(data);
        });
      } catch (e) {
        refuse(socket, e);
      }
    },
  });

  app.get<{ Params: NameParams }>(
    '/1.0/guests/:name/console/log',
    { schema: { tags: ['guests'], summary: 'What the console has shown so far (bounded)', params: NameParams, querystring: LogQuery } },
    async (request, reply) => {
      const paths = await guests.console(request.params.name, false);
      const parts = await Promise.all(paths.logs.map((f) => readFile(f).catch(() => Buffer.alloc(0))));
      return reply.type('text/plain; charset=utf-8').send(Buffer.concat(parts));
    },
  );
}
