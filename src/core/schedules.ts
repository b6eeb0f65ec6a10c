/**
 * @module Schedules: lodged takes a guest's snapshots or backups every so often, each as
 * an operation like one asked for, and keeps only so many: a snapshot schedule deletes its
 * own older snapshots (named auto-...), a backup schedule prunes the guest's backups in its
 * store. A run that fails is said in the schedule (and its operation); the next one comes
 * at its time. One timer checks what is due; a guest's runs never overlap.
 */
import { LodgeError } from '../api/errors.js';
import { formatDuration, parseDuration, type BackupSchedulePut, type Schedule, type ScheduleKind, type SnapshotSchedulePut } from '../api/schedules.js';
import type { BackupService } from './backups.js';
import type { Operations } from './operations.js';
import { autoPrefix, type SnapshotService } from './snapshots.js';
import type { Store } from './store.js';

export interface ScheduleServiceDeps {
  store: Store;
  snapshots: SnapshotService;
  backups: BackupService;
  operations: Operations;
  log: (message: string) => void;
}

interface ScheduleRow {
  guestId: number;
  guest: string;
  kind: ScheduleKind;
  everySeconds: number;
  keep: string;
  lastRunAt: string | null;
  lastResult: string | null;
  nextRunAt: string;
}

/** How often the timer looks for what is due. */
const tickMs = 2000;
/** The shortest interval: a schedule is not a loop. */
const leastSeconds = 10;
/** How long one run may take before the schedule stops waiting for it (its operation goes on). */
const runTimeoutMs = 6 * 3600 * 1000;

/** A scheduled snapshot's name: auto- and the time it was taken, sortable. */
const autoName = (at: Date) => `${autoPrefix}${at.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`;

export class ScheduleService {
  private readonly deps: ScheduleServiceDeps;
  private timer: NodeJS.Timeout | undefined;
  /** Guests whose scheduled run is under way. */
  private readonly running = new Set<string>();

  constructor(deps: ScheduleServiceDeps) {
    this.deps = deps;
  }

  private rows(where = '', ...args: unknown[]): ScheduleRow[] {
    return this.deps.store.db
      .prepare(
        `SELECT s.guest_id AS guestId, g.name AS guest, s.kind, s.every_seconds AS everySeconds, s.keep, s.last_run_at AS lastRunAt, s.last_result AS lastResult, s.next_run_at AS nextRunAt
         FROM schedules s JOIN guests g ON g.id = s.guest_id ${where} ORDER BY g.name, s.kind`,
      )
      .all(...args) as ScheduleRow[];
  }

  private toApi(r: ScheduleRow): Schedule {
    return {
      guest: r.guest,
      kind: r.kind,
      every: formatDuration(r.everySeconds),
      keep: JSON.parse(r.keep) as Schedule['keep'],
      ...(r.lastRunAt ? { lastRunAt: r.lastRunAt } : {}),
      ...(r.lastResult ? { lastResult: r.lastResult } : {}),
      nextRunAt: r.nextRunAt,
    };
  }

  private guestId(name: string): number {
    const g = this.deps.store.guest(name);
    if (!g) throw new LodgeError('NOT_FOUND', `guest ${name} not found`);
    return g.id;
  }

  list(name?: string): Schedule[] {
    return (name === undefined ? this.rows() : this.rows('WHERE g.name = ?', name)).map((r) => this.toApi(r));
  }

  /** Sets (or replaces) a guest's schedule of one kind; its first run is one interval from now. */
  set(name: string, kind: 'snapshot', req: SnapshotSchedulePut): Schedule;
  set(name: string, kind: 'backup', req: BackupSchedulePut): Schedule;
  set(name: string, kind: ScheduleKind, req: SnapshotSchedulePut | BackupSchedulePut): Schedule {
    const guestId = this.guestId(name);
    const seconds = parseDuration(req.every);
    if (seconds === undefined || seconds < leastSeconds) throw new LodgeError('BAD_REQUEST', `every: ${req.every} is not an interval of at least ${leastSeconds}s (90s, 15m, 1h, 1d)`);
    const { every: _every, ...rest } = req;
    const keep: Record<string, unknown> = rest;
    if (kind === 'backup') {
      const b = rest as Omit<BackupSchedulePut, 'every'>;
      if (b.keepLast === undefined && b.keepDaily === undefined && b.keepWeekly === undefined) throw new LodgeError('BAD_REQUEST', 'keepLast, keepDaily, keepWeekly: say what to keep (at least one of them)');
      // the store is checked now, not at the first run
      keep.store = b.store === undefined ? this.deps.backups.defaultStore() : this.deps.backups.getStore(b.store).name;
    }
    const next = new Date(Date.now() + seconds * 1000).toISOString();
    this.deps.store.db
      .prepare('INSERT OR REPLACE INTO schedules (guest_id, kind, every_seconds, keep, last_run_at, last_result, next_run_at) VALUES (?, ?, ?, ?, NULL, NULL, ?)')
      .run(guestId, kind, seconds, JSON.stringify(keep), next);
    return this.list(name).find((s) => s.kind === kind)!;
  }

  remove(name: string, kind: ScheduleKind): void {
    const changes = this.deps.store.db.prepare('DELETE FROM schedules WHERE guest_id = ? AND kind = ?').run(this.guestId(name), kind).changes;
    if (changes === 0) throw new LodgeError('NOT_FOUND', `${name} has no ${kind} schedule`);
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), tickMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Starts each run that is due, unless the guest's previous run goes on. */
  private tick(): void {
    const now = new Date().toISOString();
    for (const r of this.rows('WHERE s.next_run_at <= ?', now)) {
      const key = `${r.guest}/${r.kind}`;
      if (this.running.has(key)) continue;
      this.running.add(key);
      const next = new Date(Date.now() + r.everySeconds * 1000).toISOString();
      this.deps.store.db.prepare('UPDATE schedules SET next_run_at = ?, last_run_at = ? WHERE guest_id = ? AND kind = ?').run(next, now, r.guestId, r.kind);
      void this.run(r)
        .then(
          () => 'ok',
          (e: unknown) => (e instanceof LodgeError ? e.describe() : (e as Error).message),
        )
        .then((result) => {
          if (result !== 'ok') this.deps.log(`${r.guest}: its scheduled ${r.kind} failed: ${result}`);
          this.deps.store.db.prepare('UPDATE schedules SET last_result = ? WHERE guest_id = ? AND kind = ?').run(result, r.guestId, r.kind);
        })
        .finally(() => this.running.delete(key));
    }
  }

  private async run(r: ScheduleRow): Promise<void> {
    const keep = JSON.parse(r.keep) as Record<string, number | string>;
    if (r.kind === 'snapshot') {
      await this.ended(this.deps.snapshots.create(r.guest, { name: autoName(new Date()) }, true).id);
      // its own snapshots only, oldest first: those past `keep` go
      const own = this.deps.snapshots.list(r.guest).filter((s) => s.name.startsWith(autoPrefix));
      for (const s of own.slice(0, Math.max(0, own.length - Number(keep.keep)))) await this.deps.snapshots.delete(r.guest, s.name);
      return;
    }
    const store = String(keep.store);
    await this.ended(this.deps.backups.create(r.guest, { store }).id);
    const policy = Object.fromEntries(Object.entries(keep).filter(([k]) => k.startsWith('keep'))) as { keepLast?: number; keepDaily?: number; keepWeekly?: number };
    await this.deps.backups.prune(store, { guest: r.guest, ...policy });
  }

  /** Waits for a run's operation, and fails as it did. */
  private async ended(id: string): Promise<void> {
    const op = await this.deps.operations.wait(id, runTimeoutMs);
    if (op.status === 'failure') throw new LodgeError('INTERNAL', op.error?.message ?? 'it failed');
    // not ended in time: nothing is pruned after it, and the schedule says so
    if (op.status !== 'success') throw new LodgeError('INTERNAL', `its operation ${id} had not ended after ${runTimeoutMs / 3_600_000} hours`);
  }
}
