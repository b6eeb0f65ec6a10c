/**
 * @module The API's whole exec (POST .../exec: input given, output answered at the end) run
 * through a streamed one, for a kind whose agent streams (pv through lodge-execd): its input
 * sent at once, each output kept whole up to the cap. A command that writes past the cap is
 * killed and the request fails, as in the other kinds.
 */
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { LodgeError } from '../api/errors.js';
import { execOutputCapBytes, type ExecResult } from '../api/guests.js';
import type { ExecProcess } from './driver.js';

/** `what` names the exec in errors: "exec in web1"; `command` the program, as the error says it. */
export async function runWhole(proc: ExecProcess, stdin: string | undefined, what: string, command: string, capBytes = execOutputCapBytes): Promise<ExecResult> {
  let over: string | undefined;
  const keep = (from: Readable, name: string) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    from.on('data', (b: Buffer) => {
      bytes += b.length;
      if (bytes <= capBytes) return chunks.push(b);
      if (over === undefined) {
        over = name;
        proc.kill();
      }
    });
    return () => Buffer.concat(chunks).toString('utf8');
  };
  const stdout = keep(proc.stdout, 'stdout');
  const stderr = keep(proc.stderr, 'stderr');
  proc.stdin.on('error', () => {}); // a command that ends without reading its input: exit tells
  proc.stdin.end(stdin ?? '');
  const exitCode = await proc.exit.catch((e: unknown) => {
    if (over === undefined) throw e;
    return -1;
  });
  if (over === undefined) await Promise.all([finished(proc.stdout), finished(proc.stderr)]);
  if (over !== undefined) {
    throw new LodgeError('UNSUPPORTED', `${what}: the ${over} of ${command} exceeds ${capBytes / 1024 / 1024} MiB: the command was killed (exec returns at most that much of stdout and of stderr; write more to a file in the guest)`);
  }
  return { exitCode, stdout: stdout(), stderr: stderr() };
}
