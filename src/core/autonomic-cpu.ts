/**
 * @module The autonomic loop's CPU weighting on one host. Every few seconds it reads each running
 * guest's CPU seconds (its driver's usage reader, the one metrics use) and CPU weight (monitor),
 * hands their recent history and priorities to autonomic/cpu-shares.ts (analyse, plan), and sets
 * the weights that differ from what a guest holds through the driver's CPU-weight path alone,
 * never through setLimits, which would reset the memory balancing's allocation (execute). Each
 * change is an operation `autonomic.cpu` with its reason in words, and an event. Paused, it reads
 * but changes nothing; in dry run it keeps its own book of the weights it would have set.
 */
import type { CpuGuest as CpuGuestStatus, CpuStatus } from '../api/autonomic.js';
import { baseShares, decideCpuShares, describe, spinnerShares, type CpuDecision, type CpuGuest, type CpuSample } from '../autonomic/cpu-shares.js';
import type { CpuGuestView, GuestService } from './guests.js';
import type { Operations } from './operations.js';

export interface CpuWeigherDeps {
  guests: GuestService;
  operations: Operations;
  log: (message: string) => void;
  dryRun: boolean;
  /** How long a guest must keep a CPU busy to be lowered (default 60 s); it is quiet after half of it. */
  windowMs?: number;
  /** The clock (tests give their own). */
  now?: () => number;
}

/** What the loop keeps of a guest between rounds. */
interface Tracked {
  pid: number | undefined;
  samples: CpuSample[];
  lowered: boolean;
  /** Dry run: the weight the loop would have given it. */
  virtual?: number;
}

export const cpuAction = 'autonomic.cpu';
export const defaultCpuWindowMs = 60_000;

export class CpuWeigher {
  private readonly deps: CpuWeigherDeps;
  private readonly windowMs: number;
  private readonly quietMs: number;
  /** A round every twelfth of the window (5 s by default), so that a window holds a dozen samples. */
  private readonly everyMs: number;
  private readonly tracked = new Map<string, Tracked>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private paused: () => boolean = () => false;
  private last: CpuStatus;

  constructor(deps: CpuWeigherDeps) {
    this.deps = deps;
    this.windowMs = deps.windowMs ?? defaultCpuWindowMs;
    this.quietMs = this.windowMs / 2;
    this.everyMs = Math.min(5000, Math.max(250, this.windowMs / 12));
    this.last = { windowSeconds: this.windowMs / 1000, dryRun: deps.dryRun, guests: [] };
  }

  start(paused: () => boolean): void {
    this.paused = paused;
    this.timer = setInterval(() => void this.round(), this.everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  status(): CpuStatus {
    return this.last;
  }

  /** One round of monitor, analyse, plan, execute; a round still running when the next is due makes it wait. */
  async round(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const views = await this.deps.guests.cpuGuests();
      const now = (this.deps.now ?? Date.now)();
      for (const name of this.tracked.keys()) if (!views.some((v) => v.name === name)) this.tracked.delete(name);
      const guests = views.map((v) => this.read(v, now));
      const decisions = decideCpuShares(guests, { windowMs: this.windowMs, quietMs: this.quietMs });
      // what each holds after the round: the status shows the weights as the loop left them
      const holds = views.map((v) => this.holds(v));
      if (!this.paused()) for (const [i, d] of decisions.entries()) holds[i] = await this.apply(views[i]!, d);
      this.last = { windowSeconds: this.windowMs / 1000, dryRun: this.deps.dryRun, guests: views.map((v, i) => this.shown(v, decisions[i]!, holds[i])) };
    } catch (e) {
      this.deps.log(`autonomic: CPU round failed: ${(e as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  /** A guest as the decision takes it: its samples of the last window (a new engine starts them again). */
  private read(v: CpuGuestView, now: number): CpuGuest {
    let t = this.tracked.get(v.name);
    if (!t || t.pid !== v.pid) {
      // a guest that holds a spinner's weight was lowered by the lodged before this one (a new engine's cgroup starts at its base): it stays lowered until quiet
      const adopted = !t && v.autonomic === 'on' && v.shares !== undefined && v.shares !== baseShares(v.priority, v.cpuLimit) && v.sameShares(v.shares, spinnerShares(v.priority, v.cpuLimit));
      t = { pid: v.pid, samples: [], lowered: adopted };
      this.tracked.set(v.name, t);
    }
    if (v.cpuSeconds !== undefined) t.samples.push({ atMs: now, cpuSeconds: v.cpuSeconds });
    // what the longer span needs, and one sample before it
    const keep = Math.max(this.windowMs, this.quietMs);
    while (t.samples.length > 2 && now - t.samples[1]!.atMs >= keep) t.samples.shift();
    return { name: v.name, priority: v.priority, ...(v.cpuLimit !== undefined ? { cpuLimit: v.cpuLimit } : {}), ...(v.autonomic === 'off' ? { outOfLoop: true } : {}), samples: t.samples, lowered: t.lowered };
  }

  /** The weight it holds: in dry run what the loop would have given it. */
  private holds(v: CpuGuestView): number | undefined {
    return this.deps.dryRun ? (this.tracked.get(v.name)?.virtual ?? v.shares) : v.shares;
  }

  private shown(v: CpuGuestView, d: CpuDecision, shares: number | undefined): CpuGuestStatus {
    return { name: v.name, kind: v.kind, priority: v.priority, ...(shares !== undefined ? { shares } : {}), baseShares: baseShares(v.priority, v.cpuLimit), lowered: this.tracked.get(v.name)?.lowered ?? false, how: d.why };
  }

  /** Sets the weight decided where it differs from what the guest holds; answers what it holds then. */
  private async apply(v: CpuGuestView, d: CpuDecision): Promise<number | undefined> {
    const t = this.tracked.get(v.name)!;
    const from = this.holds(v);
    // its cgroup was not read (it is ending): nothing to compare with
    if (from === undefined) return undefined;
    if (v.sameShares(from, d.shares)) {
      t.lowered = d.lowered;
      return from;
    }
    const reason = this.deps.dryRun ? `dry run: would have: ${describe(d, from)}` : describe(d, from);
    this.deps.log(`autonomic: ${reason}`);
    const op = this.deps.operations.start(
      cpuAction,
      v.name,
      async () => {
        if (!this.deps.dryRun) await this.deps.guests.setCpuShares(v.name, d.shares);
        else t.virtual = d.shares;
        t.lowered = d.lowered;
      },
      { reason },
    );
    const done = await this.deps.operations.wait(op.id, 30_000);
    if (done.status === 'success') return d.shares;
    this.deps.log(`autonomic: ${v.name}: ${done.error?.message ?? 'failed'}${done.error?.cause ? `: ${done.error.cause}` : ''}`);
    return from;
  }
}
