/**
 * @module Waiting for an operation: a progress bar on a terminal, silence in a script,
 * and the operation's error as a LodgeError when it fails. Ctrl-C cancels an operation
 * that can be cancelled (a launch, a start) and waits for it to undo its work; a second
 * Ctrl-C stops waiting, and leaves it to lodged.
 */
import { isErrorCode, LodgeError } from '../api/errors.js';
import type { Operation } from '../api/operations.js';
import type { LodgeClient } from '../client/index.js';

/** What happens at a time the caller knows (a stop's kill), during the steps whose words end with `during`. */
export interface Deadline {
  at: number;
  what: string;
  during: string;
}

/** A step's words with what a deadline will do, counted down: "killed in 12 s"; a later step is left as it is. */
export function countdownText(step: string, deadline: Deadline, now: number): string {
  if (!step.endsWith(deadline.during)) return step;
  const left = Math.ceil((deadline.at - now) / 1000);
  return left > 0 ? `${step}: ${deadline.what} in ${left} s` : `${step}: ${deadline.what} now`;
}

/**
 * `starting`: the request that starts the operation, so that a Ctrl-C while it is on its way
 * cancels the operation as soon as lodged has answered with it. `deadline`: counted down on a terminal.
 */
export async function waitFor(client: LodgeClient, starting: Operation | Promise<Operation>, label: string, deadline?: Deadline): Promise<Operation> {
  let op: Operation | undefined;
  let interrupted = false;
  let bar: { stop(): void; start(total: number, value: number, payload: object): void; update(value: number, payload: object): void } | undefined;
  const cancel = (o: Operation) => {
    process.stderr.write(`\ncancelling ${o.action} of ${o.target} (Ctrl-C again to stop waiting; lodged then goes on alone)\n`);
    client.operations.cancel(o.id).catch((e: Error) => process.stderr.write(`cannot cancel: ${e.message}\n`));
  };
  const onInterrupt = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    bar?.stop();
    if (op) cancel(op);
  };
  process.on('SIGINT', onInterrupt);
  try {
    op = await starting;
    if (interrupted) cancel(op);
    // the bar library loads only for a terminal: scripts do not pay its start time
    const cliProgress = process.stderr.isTTY && !interrupted ? (await import('cli-progress')).default : undefined;
    bar = cliProgress
      ? new cliProgress.SingleBar({ format: `${label} [{bar}] {percentage}% {step}`, stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
      : undefined;
    bar?.start(100, op.progress, { step: op.step });
    while (op.status === 'running') {
      op = await client.operations.wait(op.id, bar ? 0.2 : 3600);
      if (!interrupted) bar?.update(op.progress, { step: deadline ? countdownText(op.step, deadline, Date.now()) : op.step });
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    bar?.stop();
  }
  if (op.status === 'failure') {
    const err = op.error!;
    throw new LodgeError(isErrorCode(err.code) ? err.code : 'INTERNAL', err.message, err.cause ? { cause: new Error(err.cause) } : undefined);
  }
  return op;
}
