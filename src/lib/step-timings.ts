/**
 * @module Where a long action's time goes. An operation runs its work inside
 * `recordingSteps`; anything below it, in any layer, times a piece of that work with
 * `timed`, and the piece lands in that operation's record. AsyncLocalStorage carries
 * the record through the awaits, so no layer passes it by hand.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import path from 'node:path';

export interface StepTiming {
  step: string;
  ms: number;
}

const current = new AsyncLocalStorage<StepTiming[]>();

/** Runs `work` with every `timed` step below it appended to `into`, in the order the steps end. */
export function recordingSteps<T>(into: StepTiming[], work: () => Promise<T>): Promise<T> {
  return current.run(into, work);
}

/** Runs `work` and, inside an operation, records how long it took as `step` (failed or not). */
export async function timed<T>(step: string, work: () => Promise<T>): Promise<T> {
  const into = current.getStore();
  if (!into) return work();
  const start = performance.now();
  try {
    return await work();
  } finally {
    into.push({ step, ms: Math.round((performance.now() - start) * 10) / 10 });
  }
}

/**
 * A program's step name: `$ ` and its name and verb, the first argument that is no
 * option, path or number (`$ runc create`, `$ ip link`, `$ nft`).
 */
export function programStep(argv: readonly string[]): string {
  const verb = argv.slice(1).find((a) => !a.startsWith('-') && !a.includes('/') && !/^\d+$/.test(a) && !a.includes('='));
  return `$ ${path.basename(argv[0] ?? '')}${verb ? ` ${verb}` : ''}`;
}
