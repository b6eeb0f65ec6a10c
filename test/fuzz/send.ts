/**
 * @module Sends a generated request to lodged's unix socket (the raw http module, or bytes on
 * a socket for what Node's client will not send), with a deadline, and judges the answer:
 * a 4xx whose body is the registered error shape with a code of that status.
 */
import http from 'node:http';
import net from 'node:net';
import { errorCodes, isErrorCode } from '../../src/api/errors.js';
import { bodyLimit, type FuzzRequest } from './api-fuzz.js';

export interface FuzzAnswer {
  status?: number;
  body: string;
  /** The connection failed before an answer (reset, refused). */
  error?: string;
  /** No answer before the deadline. */
  hung?: boolean;
  /** The connection closed while a body over the limit was being sent, before its answer could be read. */
  closedOnBody?: boolean;
}

export function send(socketPath: string, req: FuzzRequest, timeoutMs: number): Promise<FuzzAnswer> {
  return req.raw ? sendRaw(socketPath, req.body!, timeoutMs) : sendHttp(socketPath, req, timeoutMs);
}

function sendHttp(socketPath: string, req: FuzzRequest, timeoutMs: number): Promise<FuzzAnswer> {
  return new Promise((resolve) => {
    let answered = false;
    const done = (a: FuzzAnswer) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      r.destroy();
      resolve(a);
    };
    // keep-alive, as lodge's own client sends: the server then reads and drops a body it refuses
    // (with close, it would close on the rest of an upload and the answer could be lost to EPIPE)
    // and a body waits for 100 Continue, so that a request refused at its first line is answered before the body goes
    const headers = { ...req.headers, connection: 'keep-alive', ...(req.body ? { 'content-length': String(req.body.length), expect: '100-continue' } : {}) };
    const r = http.request({ socketPath, agent: false, method: req.method, path: req.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      res.on('error', (e) => done({ status: res.statusCode, body: Buffer.concat(chunks).toString(), error: e.message }));
    });
    r.on('error', (e) => done({ body: '', error: e.message, closedOnBody: (req.body?.length ?? 0) > bodyLimit }));
    const timer = setTimeout(() => done({ body: '', hung: true }), timeoutMs);
    let responded = false;
    r.on('response', () => (responded = true));
    const sendBody = async () => {
      // a body in pieces, letting the answer in between: lodged answers a body over its limit
      // and closes, and an answer that came while a write failed would be lost with the socket
      const body = req.body ?? Buffer.alloc(0);
      for (let at = 0; at < body.length && !responded && !answered; at += 64 << 10) {
        r.write(body.subarray(at, at + (64 << 10)));
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      if (!answered) r.end();
    };
    if (req.body) r.on('continue', () => void sendBody());
    else r.end();
  });
}

function sendRaw(socketPath: string, bytes: Buffer, timeoutMs: number): Promise<FuzzAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const conn = net.connect(socketPath);
    const timer = setTimeout(() => {
      conn.destroy();
      resolve({ body: '', hung: true });
    }, timeoutMs);
    conn.on('data', (c: Buffer) => chunks.push(c));
    conn.on('error', () => {}); // the answer (or its absence) is judged at close
    conn.on('close', () => {
      clearTimeout(timer);
      resolve(parseRaw(Buffer.concat(chunks).toString('latin1')));
    });
    conn.end(bytes);
  });
}

/** Status and body of a raw HTTP answer (Content-Length or chunked). */
function parseRaw(text: string): FuzzAnswer {
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
  if (!status) return { body: text, error: text ? 'not an HTTP answer' : 'closed without an answer' };
  const split = text.indexOf('\r\n\r\n');
  const head = text.slice(0, split);
  let body = split < 0 ? '' : text.slice(split + 4);
  if (/^transfer-encoding: chunked/im.test(head)) {
    let out = '';
    for (let rest = body; ; ) {
      const eol = rest.indexOf('\r\n');
      const size = parseInt(rest.slice(0, eol), 16);
      if (!(size > 0)) break;
      out += rest.slice(eol + 2, eol + 2 + size);
      rest = rest.slice(eol + 2 + size + 2);
    }
    body = out;
  }
  return { status: Number(status), body: Buffer.from(body, 'latin1').toString('utf8') };
}

/** What is wrong with an answer to a request that is invalid, or undefined when it is as it should be. */
export function judge(req: FuzzRequest, a: FuzzAnswer): string | undefined {
  if (a.hung) return 'no answer in time';
  // refusing a body over the limit by closing on it is an answer (the shape of the one sent before is not known)
  if (a.status === undefined && a.closedOnBody) return undefined;
  if (a.status === undefined) return `no answer: ${a.error ?? 'none'}`;
  if (a.status < 400 || a.status >= 500) return `status ${a.status}: ${a.body.slice(0, 300)}`;
  if (req.method === 'HEAD') return undefined; // a HEAD answer has no body to check
  let body: unknown;
  try {
    body = JSON.parse(a.body);
  } catch {
    return `status ${a.status} with a body that is not JSON: ${JSON.stringify(a.body.slice(0, 200))}`;
  }
  const error = (body as { error?: { code?: unknown; message?: unknown } }).error;
  if (!error || !isErrorCode(error.code) || typeof error.message !== 'string') return `status ${a.status} without the registered error shape: ${a.body.slice(0, 300)}`;
  if (errorCodes[error.code].status !== a.status) return `code ${error.code} answered with status ${a.status}`;
  const extra = Object.keys(body as object).filter((k) => k !== 'error');
  if (extra.length) return `fields beside error: ${extra.join(', ')}`;
  return undefined;
}
