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

/** `deadline`: counted down on a terminal. */
export async function waitFor(client: LodgeClient, started: Operation, label: string, deadline?: Deadline): Promise<Operation> {
  // the bar library loads only for a terminal: scripts do not pay its start time
  const cliProgress = process.stderr.isTTY ? (await import('cli-progress')).default : undefined;
  const bar = cliProgress
    ? new cliProgress.SingleBar({ format: `${label} [{bar}] {percentage}% {step}`, stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
    : undefined;
  bar?.start(100, started.progress, { step: started.step });
  let op = started;
  let interrupted = false;
  const onInterrupt = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    bar?.stop();
    process.stderr.write(`\ncancelling ${op.action} of ${op.target} (Ctrl-C again to stop waiting; lodged then goes on alone)\n`);
    client.operations.cancel(op.id).catch((e: Error) => process.stderr.write(`cannot cancel: ${e.message}\n`));
  };
  process.on('SIGINT', onInterrupt);
  try {
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
