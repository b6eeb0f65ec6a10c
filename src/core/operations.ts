/**
 * @module Operations: every long action runs as one, with progress and a step that
 * says what it is doing, visible while it runs and kept after it ends.
 */
import { randomUUID } from 'node:crypto';
import { LodgeError } from '../api/errors.js';
import type { Operation } from '../api/operations.js';
import type { Events } from './events.js';
import { recordingSteps, type StepTiming } from '../lib/step-timings.js';
import type { Store } from './store.js';

export type Progress = (percent: number, step: string) => void;

/** What the work of an operation is handed: where to say how far it is, and a signal raised when it is cancelled. */
export interface OperationWork {
  progress: Progress;
  signal: AbortSignal;
}

export class Operations {
  /** Running operations, with the promise that settles when each ends. */
  private readonly running = new Map<string, { op: Operation; done: Promise<Operation>; cancel?: AbortController }>();
  private readonly store: Store;
  private readonly events: Events;

  constructor(store: Store, events: Events) {
    this.store = store;
    this.events = events;
  }

  /** Marks operations that a previous lodged left running as failed: it died during them. */
  failInterrupted(): void {
    for (const op of this.store.operations(10_000)) {
      if (op.status !== 'running') continue;
      const message = `lodged stopped during this operation (at step: ${op.step})`;
      this.store.saveOperation({ ...op, status: 'failure', error: { code: 'INTERNAL', message }, updatedAt: new Date().toISOString() });
    }
  }

  /** Runs `work` as an operation; a cancellable one is handed a signal that cancel() raises, any other runs to its end. */
  /** `work` may answer how it ended, in words (the operation's result), when that is more than success. */
  start(action: string, target: string, work: (w: OperationWork) => Promise<string | void>, options: { cancellable?: boolean; reason?: string } = {}): Operation {
    const now = new Date().toISOString();
    const op: Operation = { id: randomUUID(), action, target, status: 'running', progress: 0, step: 'queued', ...(options.reason ? { reason: options.reason } : {}), createdAt: now, updatedAt: now };
    this.store.saveOperation(op);
    this.events.emit('operation', target, action, { id: op.id, status: op.status, ...(op.reason ? { reason: op.reason } : {}) });
    const timings: StepTiming[] = [];
    let stepStart = performance.now();
    const endStep = () => {
      const now = performance.now();
      timings.push({ step: op.step, ms: Math.round((now - stepStart) * 10) / 10 });
      stepStart = now;
    };
    const progress: Progress = (percent, step) => {
      op.progress = Math.max(op.progress, Math.min(100, Math.round(percent)));
      op.updatedAt = new Date().toISOString();
      // a new step is stored (a lodged that dies can then say where it was); percentages only go to watchers
      if (step !== op.step) {
        endStep();
        op.step = step;
        this.store.saveOperation(op);
      }
      this.events.emit('operation', target, action, { id: op.id, status: op.status, progress: op.progress, step });
    };
    const cancel = options.cancellable ? new AbortController() : undefined;
    const done = recordingSteps(timings, () => work({ progress, signal: cancel?.signal ?? new AbortController().signal })).then(
      (result) => {
        op.status = 'success';
        op.progress = 100;
        if (typeof result === 'string') op.result = result;
      },
      (e: unknown) => {
        // a cancelled operation says so, whatever the step it was at made of the abort
        const cancelled = cancel?.signal.aborted ? (cancel.signal.reason as LodgeError) : undefined;
        const err = cancelled ?? (e instanceof LodgeError ? e : new LodgeError('INTERNAL', `${action} of ${target} failed`, { cause: e }));
        const body = err.toBody().error;
        op.status = 'failure';
        op.error = { code: body.code, message: `${body.message} (at step: ${op.step})`, ...(body.cause ? { cause: body.cause } : {}) };
      },
    ).then(() => {
      endStep();
      op.timings = timings;
      op.updatedAt = new Date().toISOString();
      this.store.saveOperation(op);
      this.running.delete(op.id);
      this.events.emit('operation', target, action, { id: op.id, status: op.status, ...(op.error ? { error: op.error } : {}), ...(op.result ? { result: op.result } : {}) });
      return { ...op };
    });
    this.running.set(op.id, { op, done, cancel });
    return { ...op };
  }

  /**
   * Asks a running operation to stop: its work sees the signal, stops at its next step
   * or kills the program it waits for, and undoes what it made. Answers the operation as
   * it is then (still running until it has undone its work: wait for it).
   */
  cancel(id: string, why = 'cancelled by a client'): Operation {
    const live = this.running.get(id);
    if (!live) {
      const ended = this.get(id);
      throw new LodgeError('CONFLICT', `operation ${id} has ended (${ended.status}): there is nothing to cancel`);
    }
    if (!live.cancel) throw new LodgeError('CONFLICT', `operation ${id} (${live.op.action} of ${live.op.target}) cannot be cancelled: it runs to its end`);
    if (!live.cancel.signal.aborted) live.cancel.abort(new LodgeError('CANCELLED', `${live.op.action} of ${live.op.target} was ${why}; what it had made was undone`));
    return { ...live.op };
  }

  /** Cancels every running operation and waits, at most `timeoutMs`, for them to undo their work. */
  async cancelAll(why: string, timeoutMs: number): Promise<void> {
    const live = [...this.running.values()];
    for (const r of live) if (r.cancel) this.cancel(r.op.id, why);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(live.map((r) => r.done)), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  get(id: string): Operation {
    const live = this.running.get(id);
    if (live) return { ...live.op };
    const stored = this.store.operation(id);
    if (!stored) throw new LodgeError('NOT_FOUND', `operation ${id} not found`);
    return stored;
  }

  list(): Operation[] {
    const live = [...this.running.values()].map((r) => ({ ...r.op }));
    const ended = this.store.operations().filter((o) => !this.running.has(o.id));
    return [...live, ...ended];
  }

  /** Waits until the operation ends or the timeout passes, then answers its latest state. */
  async wait(id: string, timeoutMs: number): Promise<Operation> {
    const live = this.running.get(id);
    if (!live) return this.get(id);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Operation>((resolve) => {
      timer = setTimeout(() => resolve({ ...live.op }), timeoutMs);
    });
    try {
      return await Promise.race([live.done, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
