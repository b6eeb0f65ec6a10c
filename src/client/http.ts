/**
 * @module The transport of the typed client: JSON over HTTP on lodged's unix socket,
 * with errors rebuilt as LodgeError so that callers see the API's code and message.
 */
import http from 'node:http';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isErrorCode, LodgeError, type ErrorBody } from '../api/errors.js';

export const defaultSocket = '/run/lodge/lodge.sock';

export interface RequestOptions {
  body?: unknown;
  /** A stream sent as the body instead of JSON, with its content type. */
  stream?: { data: Readable; contentType: string };
  /** Answer the raw text instead of parsing JSON. */
  text?: boolean;
}

export class Transport {
  readonly socketPath: string;
  constructor(socketPath: string = process.env.LODGE_SOCKET || defaultSocket) {
    this.socketPath = socketPath;
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
      const req = http.request({ socketPath: this.socketPath, method, path, headers, ...(reusable && mayRetry ? {} : { agent: false }) }, (res) => {
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
      const req = http.get({ socketPath: this.socketPath, path, agent: false }, (res) => {
        if ((res.statusCode ?? 500) >= 400) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => reject(errorFrom(res.statusCode ?? 500, Buffer.concat(chunks).toString())));
          return;
        }
        pipeline(res, sink).then(() => resolve(res.headers), reject);
      });
      req.on('error', (e: NodeJS.ErrnoException) => reject(this.unreachable(e)));
    });
  }

  /** A long-lived GET whose body is newline-delimited JSON. */
  stream(path: string, onLine: (value: unknown) => void): Promise<() => void> {
    return new Promise((resolve, reject) => {
      const req = http.get({ socketPath: this.socketPath, path }, (res) => {
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
    });
  }

  unreachable(e: NodeJS.ErrnoException): LodgeError {
    const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'is lodged running? (set LODGE_SOCKET to use another socket)' : e.message;
    return new LodgeError('UNAVAILABLE', `cannot reach lodged at ${this.socketPath}: ${why}`, { cause: e });
  }
}

function errorFrom(status: number, text: string): LodgeError {
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
