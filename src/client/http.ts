/**
 * @module The transport of the typed client: JSON over HTTP on lodged's unix socket, or
 * over HTTPS to a remote lodged with a token and its certificate pinned (pinned-tls.ts),
 * with errors rebuilt as LodgeError so that callers see the API's code and message.
 */
import http from 'node:http';
import https from 'node:https';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isErrorCode, LodgeError, type ErrorBody } from '../api/errors.js';
import { PinnedAgent } from './pinned-tls.js';

export const defaultSocket = '/run/lodge/lodge.sock';

/** A lodged on another machine: its HTTPS address, a token, and the fingerprint pinned when it was added. */
export interface RemoteTarget {
  url: string;
  token: string;
  fingerprint: string;
}

/** What a WebSocket client needs besides the URL (the ws package takes these options). */
export interface WebSocketOptions {
  agent?: http.Agent;
  headers?: Record<string, string>;
}

export interface RequestOptions {
  body?: unknown;
  /** A stream sent as the body instead of JSON, with its content type. */
  stream?: { data: Readable; contentType: string };
  /** Answer the raw text instead of parsing JSON. */
  text?: boolean;
}

export class Transport {
  /** The unix socket, when it is not a remote. */
  readonly socketPath: string;
  readonly remote: { url: URL; token: string; agent: PinnedAgent; fingerprint: string } | undefined;

  constructor(target: string | RemoteTarget = process.env.LODGE_SOCKET || defaultSocket) {
    if (typeof target === 'string') {
      this.socketPath = target;
      this.remote = undefined;
    } else {
      const url = new URL(target.url);
      this.socketPath = '';
      this.remote = { url, token: target.token, fingerprint: target.fingerprint, agent: new PinnedAgent(target.fingerprint, url.origin, { keepAlive: true }) };
    }
  }

  /** Where requests go, for messages. */
  get where(): string {
    return this.remote ? this.remote.url.origin : this.socketPath;
  }

  /**
   * A request's connection: the unix socket, or the remote with its token. `reused`: it
   * may go on a kept-alive connection (a GET), else on one of its own.
   */
  private open(method: string, path: string, headers: Record<string, string>, reused: boolean, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
    if (!this.remote) return http.request({ socketPath: this.socketPath, method, path, headers, ...(reused ? {} : { agent: false }) }, onResponse);
    const { url, token, fingerprint, agent } = this.remote;
    return https.request(
      { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port || 443, method, path, headers: { ...headers, authorization: `Bearer ${token}` }, agent: reused ? agent : new PinnedAgent(fingerprint, url.origin) },
      onResponse,
    );
  }

  /** A WebSocket's address for an API path. */
  webSocketUrl(path: string): string {
    return this.remote ? `wss://${this.remote.url.host}${path}` : `ws+unix://${this.socketPath}:${path}`;
  }

  /** The options a WebSocket to that address needs: the remote's token and pinned certificate. */
  webSocketOptions(): WebSocketOptions {
    if (!this.remote) return {};
    return { agent: new PinnedAgent(this.remote.fingerprint, this.remote.url.origin), headers: { authorization: `Bearer ${this.remote.token}` } };
  }

  request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    return this.attempt<T>(method, path, options, true);
  }

  /**
   * One try. A GET may go out on a kept-alive connection that lodged closed just then
   * (its keep-alive timeout, or a restart): it is sent again, once, on a fresh connection.
   * Every other method goes out on a connection of its own, so it is never sent twice and
   * never lost to a stale one.
   */
  private attempt<T>(method: string, path: string, options: RequestOptions, mayRetry: boolean): Promise<T> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      let payload: string | undefined;
      if (options.body !== undefined) {
        payload = JSON.stringify(options.body);
        headers['content-type'] = 'application/json';
      } else if (options.stream) {
        headers['content-type'] = options.stream.contentType;
      }
      const reusable = method === 'GET';
      let answered = false;
      const req = this.open(method, path, headers, reusable && mayRetry, (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e: NodeJS.ErrnoException) => reject(this.unreachable(e)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if ((res.statusCode ?? 500) >= 400) return reject(errorFrom(res.statusCode ?? 500, text));
          if (options.text) return resolve(text as T);
          try {
            resolve((text ? JSON.parse(text) : undefined) as T);
          } catch {
            reject(new LodgeError('INTERNAL', `lodged answered ${res.statusCode} with a body that is not JSON`));
          }
        });
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (answered) return;
        if (reusable && mayRetry && req.reusedSocket && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) {
          return void this.attempt<T>(method, path, options, false).then(resolve, reject);
        }
        reject(this.unreachable(e));
      });
      if (options.stream) {
        options.stream.data.on('error', (e) => req.destroy(e));
        options.stream.data.pipe(req);
      } else req.end(payload);
    });
  }

  /** A GET whose body is bytes: written to `sink` (ended after), answering the response's headers once all is written. */
  download(path: string, sink: Writable): Promise<http.IncomingHttpHeaders> {
    return new Promise((resolve, reject) => {
      const req = this.open('GET', path, {}, false, (res) => {
        if ((res.statusCode ?? 500) >= 400) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => reject(errorFrom(res.statusCode ?? 500, Buffer.concat(chunks).toString())));
          return;
        }
        pipeline(res, sink).then(() => resolve(res.headers), reject);
      });
      req.on('error', (e: NodeJS.ErrnoException) => reject(this.unreachable(e)));
      req.end();
    });
  }

  /** A long-lived GET whose body is newline-delimited JSON. */
  stream(path: string, onLine: (value: unknown) => void): Promise<() => void> {
    return new Promise((resolve, reject) => {
      const req = this.open('GET', path, {}, true, (res) => {
        let rest = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const lines = (rest + chunk).split('\n');
          rest = lines.pop() ?? '';
          for (const line of lines) if (line.trim()) onLine(JSON.parse(line));
        });
        resolve(() => req.destroy());
      });
      req.on('error', (e: NodeJS.ErrnoException) => reject(this.unreachable(e)));
      req.end();
    });
  }

  unreachable(e: NodeJS.ErrnoException): LodgeError {
    if (e instanceof LodgeError) return e; // a certificate that is not the pinned one says so itself
    const hint = this.remote ? 'is lodged running there with --listen?' : 'is lodged running? (set LODGE_SOCKET to use another socket)';
    const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? hint : e.message;
    return new LodgeError('UNAVAILABLE', `cannot reach lodged at ${this.where}: ${why}`, { cause: e });
  }
}

/** The LodgeError an error answer carries (or one that says what came instead). */
export function errorFrom(status: number, text: string): LodgeError {
  try {
    const body = JSON.parse(text) as ErrorBody;
    if (isErrorCode(body.error?.code)) {
      const e = new LodgeError(body.error.code, body.error.message, body.error.cause ? { cause: new Error(body.error.cause) } : undefined);
      return e;
    }
  } catch {
    // not a Lodge error body: fall through
  }
  return new LodgeError('INTERNAL', `lodged answered ${status}: ${text.slice(0, 500)}`);
}
