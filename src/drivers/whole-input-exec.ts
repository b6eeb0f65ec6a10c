/**
 * @module An exec as streams for the kinds whose agent takes a command's input whole (pv
 * through lodge-agent, vm through the QEMU guest agent): stdin is gathered up to the cap and
 * the command runs once it has ended; its output comes as the kind's run gives it (pv: as the
 * command writes it, vm: when it has ended). Such a command cannot be signalled from here,
 * and a client that leaves does not end it.
 */
import { PassThrough, Writable } from 'node:stream';
import { LodgeError } from '../api/errors.js';
import { execOutputCapBytes } from '../api/guests.js';
import type { ExecProcess } from './driver.js';

/** Runs the command with its whole input, writing its output to `stdout` and `stderr` (the caller ends them); answers its exit code. */
export type WholeInputRun = (stdin: string, stdout: PassThrough, stderr: PassThrough) => Promise<number>;

/** `what` names the exec in errors: "exec in web1". */
export function wholeInputExecProcess(run: WholeInputRun, what: string, maxInputBytes = execOutputCapBytes): ExecProcess {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const input: Buffer[] = [];
  let inputBytes = 0;
  let tooMuch: LodgeError | undefined;
  let ended: (stdin: string) => void = () => {};
  const stdinEnded = new Promise<string>((resolve) => (ended = resolve));
  const stdin = new Writable({
    write(chunk: Buffer, _encoding, done) {
      inputBytes += chunk.length;
      if (inputBytes > maxInputBytes) {
        tooMuch ??= new LodgeError('UNSUPPORTED', `${what}: more than ${maxInputBytes / 1024 / 1024} MiB on stdin: this kind's exec takes its input whole (copy a larger input in with lodge file push)`);
        return done(tooMuch);
      }
      input.push(chunk);
      done();
    },
    final(done) {
      ended(Buffer.concat(input).toString());
      done();
    },
  });
  stdin.on('error', () => {}); // told through exit
  const exit = new Promise<number>((resolve, reject) => {
    stdin.once('error', () => reject(tooMuch));
    void stdinEnded
      .then((text) => run(text, stdout, stderr))
      .then(resolve, reject)
      .finally(() => {
        stdout.end();
        stderr.end();
      });
  });
  return {
    stdin,
    stdout,
    stderr,
    exit,
    signal() {
      throw new LodgeError('UNSUPPORTED', `${what}: this kind's exec cannot signal its command, which goes on in the guest`);
    },
    kill() {
      // nothing reaches the command: it runs to its end in the guest, and its output is dropped
    },
  };
}
