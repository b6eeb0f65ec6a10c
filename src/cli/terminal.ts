/**
 * @module Attaching this terminal to a WebSocket that carries a terminal (a guest's
 * console, or an interactive command): raw mode, Ctrl-] to detach, window size.
 */
import { isErrorCode, LodgeError } from '../api/errors.js';
import { errorFrom, type WebSocketOptions } from '../client/http.js';

const detachKey = 0x1d; // Ctrl-]

export interface AttachResult {
  exitCode?: number;
}

/** A text frame of lodged's on a guest's WebSocket: the command's exit code, or the error that ended it. */
export function lodgedSays(data: Buffer): { exit?: number; error?: LodgeError } {
  const msg = JSON.parse(data.toString()) as { exit?: number; error?: { code: string; message: string } };
  return {
    ...(msg.exit !== undefined ? { exit: msg.exit } : {}),
    ...(msg.error ? { error: new LodgeError(isErrorCode(msg.error.code) ? msg.error.code : 'INTERNAL', msg.error.message) } : {}),
  };
}

/** Calls `fail` when the connection fails, or lodged refuses the upgrade with an HTTP answer (no login, a viewer's role): its error, as the API says it. */
export function onRefusal(ws: import('ws').WebSocket, fail: (e: LodgeError) => void): void {
  ws.on('error', (e) => fail(e instanceof LodgeError ? e : new LodgeError('UNAVAILABLE', `cannot attach: ${e.message}`)));
  ws.on('unexpected-response', (_request, response) => {
    const chunks: Buffer[] = [];
    response.on('data', (c: Buffer) => chunks.push(c));
    response.on('end', () => fail(errorFrom(response.statusCode ?? 500, Buffer.concat(chunks).toString())));
  });
}

export async function attach(url: string, options: { connect: WebSocketOptions; detachable: boolean; onResize?: (send: (cols: number, rows: number) => void) => void }): Promise<AttachResult> {
  // loaded here, not at the top: most commands never attach, and ws costs start time
  const { default: WebSocket } = await import('ws');
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.connect);
    const stdin = process.stdin;
    const result: AttachResult = {};
    let failed: LodgeError | undefined;
    const restore = () => {
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
    };
    ws.on('open', () => {
      if (stdin.isTTY) stdin.setRawMode(true);
      stdin.resume();
      stdin.on('data', (d: Buffer) => {
        if (options.detachable && stdin.isTTY && d.includes(detachKey)) return ws.close(1000);
        ws.send(d, { binary: true });
      });
      // without a terminal, the end of input ends the session after the output settles
      stdin.on('end', () => setTimeout(() => ws.close(1000), 500));
      options.onResize?.((cols, rows) => ws.send(JSON.stringify({ resize: [cols, rows] })));
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return void process.stdout.write(data);
      const msg = lodgedSays(data);
      if (msg.exit !== undefined) result.exitCode = msg.exit;
      failed ??= msg.error;
    });
    onRefusal(ws, (e) => {
      restore();
      reject(e);
    });
    ws.on('close', () => {
      restore();
      if (failed) reject(failed);
      else resolve(result);
    });
  });
}
