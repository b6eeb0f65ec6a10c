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

export class Operations {
  /** Running operations, with the promise that settles when each ends. */
  private readonly running = new Map<string, { op: Operation; done: Promise<Operation> }>();
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

  start(action: string, target: string, work: (progress: Progress) => Promise<void>): Operation {
    const now = new Date().toISOString();
    const op: Operation = { id: randomUUID(), action, target, status: 'running', progress: 0, step: 'queued', createdAt: now, updatedAt: now };
    this.store.saveOperation(op);
    this.events.emit('operation', target, action, { id: op.id, status: op.status });
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
    const done = recordingSteps(timings, () => work(progress)).then(
      () => {
        op.status = 'success';
        op.progress = 100;
      },
      (e: unknown) => {
        const err = e instanceof LodgeError ? e : new LodgeError('INTERNAL', `${action} of ${target} failed`, { cause: e });
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
      this.events.emit('operation', target, action, { id: op.id, status: op.status, ...(op.error ? { error: op.error } : {}) });
      return { ...op };
    });
    this.running.set(op.id, { op, done });
    return { ...op };
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
