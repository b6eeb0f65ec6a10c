/**
 * @module The one place where errors become answers: HTTP replies (from routes, from
 * Fastify's own checks of the URL and body, and from Node's HTTP parser before there is a
 * request) and WebSocket closes. Every one carries the registered body of src/api/errors.ts.
 */
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { LodgeError } from '../api/errors.js';
import { describeValidationError } from './validation.js';

/** The largest request body lodged reads (image uploads are streamed, and not held to it). */
export const bodyLimit = 1 << 20;

/** Fastify's own errors, in words that name what was wrong with the request. */
const frameworkMessages: Record<string, string> = {
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the request needs a JSON body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'the request body is not valid JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: `the request body is over the limit of ${bodyLimit} bytes`,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'the request body does not match its Content-Length',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'this content type is not accepted here (send application/json)',
  FST_ERR_BAD_URL: 'the URL is not valid (a broken %-escape?)',
  FST_ERR_MAX_PARAM_LENGTH: 'a path parameter is too long',
};

export function toLodgeError(error: FastifyError | Error): LodgeError {
  if (error instanceof LodgeError) return error;
  const fe = error as FastifyError;
  if (fe.validation?.[0]) return new LodgeError('BAD_REQUEST', describeValidationError(fe.validation[0], fe.validationContext));
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new LodgeError(fe.statusCode === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', frameworkMessages[fe.code] ?? fe.message);
  }
  return new LodgeError('INTERNAL', 'internal error in lodged', { cause: error });
}

/** The route error handler, and Fastify's `frameworkErrors` (bad URL encoding, overlong parameters). */
export function errorHandler(log: (m: string) => void) {
  return (error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    const e = toLodgeError(error);
    if (e.code === 'INTERNAL') log(`${request.method} ${request.url}: ${e.describe()}\n${(error as Error).stack ?? ''}`);
    void reply.status(e.status).send(e.toBody());
  };
}

/** What Node's HTTP parser refused, before Fastify saw a request. */
function clientErrorMessage(code: string | undefined): string {
  if (code === 'HPE_HEADER_OVERFLOW') return 'the request headers are too large';
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'the request did not arrive in time';
  return 'the request is not valid HTTP';
}

/** Fastify's `clientErrorHandler`: answers on the raw socket, as there is no request to reply to. */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const body = JSON.stringify(new LodgeError('BAD_REQUEST', clientErrorMessage(error.code)).toBody());
  if (!socket.writable) return void socket.destroy();
  socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/**
 * Ends a WebSocket with an error: the body as a text frame, then a close whose code is
 * 4000 + the HTTP status and whose reason is the start of the body (a close reason is at
 * most 123 bytes, so it is cut, in ASCII). Never throws, whatever state the socket is in.
 */
export function refuse(socket: WebSocket, error: unknown): void {
  const e = toLodgeError(error as Error);
  const body = JSON.stringify(e.toBody());
  try {
    // a paused client's close frame would never be read
    socket.resume();
    if (socket.readyState === socket.OPEN) socket.send(body);
    if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(4000 + e.status, body.replace(/[^\x20-\x7e]/g, '?').slice(0, 120));
  } catch {
    socket.terminate();
  }
}

/**
 * The WebSocket plugin's error handler: a handler that failed, a frame that ws refused
 * (over the size limit, broken), or a reset: each ends that connection only.
 */
export function socketErrorHandler(log: (m: string) => void) {
  return (error: Error, socket: WebSocket, request: FastifyRequest) => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code?.startsWith('WS_ERR_')) return refuse(socket, new LodgeError('BAD_REQUEST', `the WebSocket frame was refused: ${error.message}`));
    if (code) return void socket.terminate(); // the connection itself broke: nobody to answer
    const e = toLodgeError(error);
    if (e.code === 'INTERNAL') log(`WebSocket ${request.url.split('?')[0]}: ${e.describe()}\n${error.stack ?? ''}`);
    refuse(socket, e);
  };
}
