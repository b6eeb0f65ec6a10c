/**
 * @module `lodge exec` without a terminal: this process's stdin, stdout and stderr joined to
 * a command in a guest over the exec WebSocket's pipes, each at the pace of its reader, and
 * the signals this process gets (Ctrl-C in the shell that runs it) passed on to the command.
 */
import { execChannel, type ExecSignal } from '../api/guests.js';
import type { WebSocketOptions } from '../client/http.js';
import { lodgedSays, onRefusal } from './terminal.js';

/** Input sent but not yet gone out, above which this process stops reading its stdin. */
const highWater = 1 << 20;

const passedSignals: ExecSignal[] = ['INT', 'TERM', 'HUP', 'QUIT'];

/** Runs the command at `url` (stdio=pipes) to its end; resolves with its exit code. */
export async function execOnPipes(url: string, connect: WebSocketOptions): Promise<number> {
  const { default: WebSocket } = await import('ws');
  const ws = new WebSocket(url, connect);
  const stdin = process.stdin;
  const outputs = { [execChannel.stdout]: process.stdout, [execChannel.stderr]: process.stderr } as Record<number, NodeJS.WriteStream>;
  const handlers = passedSignals.map((s) => [`SIG${s}` as NodeJS.Signals, () => ws.send(JSON.stringify({ signal: s }))] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  const done = () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
    stdin.removeAllListeners('data');
    stdin.pause();
    stdin.destroy(); // `yes | lodge exec g -- head -1` ends with the command, whatever is still piped in
  };
  return new Promise((resolve, reject) => {
    let exitCode: number | undefined;
    let failed: Error | undefined;
    ws.on('open', () => {
      // a terminal's input is the user's, not the command's: exec -t is for that
      if (stdin.isTTY) return ws.send(JSON.stringify({ eof: true }));
      stdin.on('data', (d: Buffer) => {
        ws.send(d, { binary: true }, () => ws.bufferedAmount < highWater / 2 && stdin.resume());
        if (ws.bufferedAmount > highWater) stdin.pause();
      });
      stdin.on('end', () => ws.send(JSON.stringify({ eof: true })));
      stdin.on('error', () => ws.send(JSON.stringify({ eof: true })));
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        const msg = lodgedSays(data);
        exitCode ??= msg.exit;
        failed ??= msg.error;
        return;
      }
      const out = outputs[data[0]!];
      if (out && !out.write(data.subarray(1))) {
        ws.pause();
        out.once('drain', () => ws.resume());
      }
    });
    onRefusal(ws, (e) => {
      done();
      reject(e);
    });
    ws.on('close', () => {
      done();
      if (failed) reject(failed);
      else if (exitCode === undefined) reject(new Error('lodged closed the exec before the command ended'));
      else resolve(exitCode);
    });
  });
}
