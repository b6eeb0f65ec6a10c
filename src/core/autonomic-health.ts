/**
 * @module The autonomic loop's health watch on one host. Every so often (30 s by default) it
 * asks each running guest in the loop whether what holds its console answers and whether the
 * agent in it does (monitor); autonomic/health.ts says what is news (analyse); a side gone
 * silent, or answering again, is reported as an operation `autonomic.health` with its reason
 * in words, and an event (the loop's report: it changes nothing in the guest). Paused, the loop
 * still watches and reports: a report is no action.
 */
import type { HealthGuest, HealthStatus } from '../api/autonomic.js';
import { judgeHealth, newHealthTrack, sideStatus, type HealthTrack } from '../autonomic/health.js';
import type { GuestService } from './guests.js';
import type { Operations } from './operations.js';

export interface HealthWatchDeps {
  guests: GuestService;
  operations: Operations;
  log: (message: string) => void;
  /** How often each guest is asked (default 30 s). */
  everyMs?: number;
}

export const healthAction = 'autonomic.health';
export const defaultHealthEveryMs = 30_000;

export class HealthWatch {
  private readonly deps: HealthWatchDeps;
  private readonly everyMs: number;
  private readonly tracked = new Map<string, HealthTrack & { pid: number | undefined; kind: string }>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(deps: HealthWatchDeps) {
    this.deps = deps;
    this.everyMs = deps.everyMs ?? defaultHealthEveryMs;
  }

  start(): void {
    this.timer = setInterval(() => void this.round(), this.everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  status(): HealthStatus {
    const now = Date.now();
    const guests = [...this.tracked].map(([name, t]): HealthGuest => ({
      name,
      kind: t.kind,
      console: sideStatus(t, 'console', now),
      agent: { ...sideStatus(t, 'agent', now), ...(t.agentName ? { name: t.agentName } : {}) },
    }));
    return { everySeconds: this.everyMs / 1000, guests: guests.sort((a, b) => (a.name < b.name ? -1 : 1)) };
  }

  /** One round of probes; a round still running when the next is due makes it wait. */
  async round(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const views = await this.deps.guests.healthGuests();
      const now = Date.now();
      for (const name of this.tracked.keys()) if (!views.some((v) => v.name === name)) this.tracked.delete(name);
      for (const v of views) {
        let t = this.tracked.get(v.name);
        // a new start: its agent must answer again before its silence is news
        if (!t || t.pid !== v.pid) this.tracked.set(v.name, (t = { ...newHealthTrack(), pid: v.pid, kind: v.kind }));
        for (const report of judgeHealth(v.name, t, v.probe, now)) {
          this.deps.log(`autonomic: ${report.reason}`);
          this.deps.operations.start(healthAction, v.name, async () => {}, { reason: report.reason });
        }
      }
    } catch (e) {
      this.deps.log(`autonomic: health round failed: ${(e as Error).message}`);
    } finally {
      this.busy = false;
    }
  }
}
