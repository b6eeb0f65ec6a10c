/**
 * @module The autonomic loop's memory balancing on one host. Every round it reads each running
 * guest's memory through its driver (monitor), hands the guest memory budget and the readings
 * to autonomic/memory-balance.ts (analyse, plan), and applies the moves it answers through each
 * kind's live mechanism, donors lowered before the guest they give to is raised (execute). Each
 * move is an operation `autonomic.memory` with its reason in words, and an event. Paused, it
 * reads but moves nothing; in dry run it keeps its own book of the allocations it would have
 * given and applies none. A pv guest's memory (and a vm's without a balloon) is fixed while it
 * runs: it counts at its ceiling, and the loop does not move it (the status says so).
 */
import type { MemoryGuest as MemoryGuestStatus, MemoryStatus } from '../api/autonomic.js';
import { formatSize, parseSize } from '../api/sizes.js';
import { defaultGuestMemory, isShort, planMemory, starved, type MemoryGuest, type MemoryMove } from '../autonomic/memory-balance.js';
import type { GuestService, MemoryGuestView } from './guests.js';
import type { Operations } from './operations.js';

export interface MemoryBalancerDeps {
  guests: GuestService;
  operations: Operations;
  log: (message: string) => void;
  budgetBytes: number;
  dryRun: boolean;
  /** How often the guests are read (default 1 s): a guest that grows gets memory before its limit is reached. */
  everyMs?: number;
}

/** What the loop keeps of a guest between rounds. */
interface Tracked {
  pid: number | undefined;
  /** It has been balanced since its engine started: no longer new. */
  seen: boolean;
  shortSince?: number;
  /** Dry run: the allocation the loop would have given it. */
  virtual?: number;
  /** Its last reading was below its ceiling: it is read every round until it holds its ceiling again. */
  lowered?: boolean;
  /** Its allocation when last read: what it holds when a reading fails (a busy engine that did not answer in time). */
  allocation?: number;
  /** Its OOM kills when last read, where its engine counts them: a new one is logged. */
  oomKills?: number;
  starved?: boolean;
}

export const memoryAction = 'autonomic.memory';

/** The guest memory budget: the host's memory less its reserve, or `asked` (lodged --guest-memory), which may only be smaller. */
export function guestMemoryBudget(hostBytes: number, asked: string | undefined): number {
  const most = defaultGuestMemory(hostBytes);
  if (asked === undefined) return most;
  const bytes = parseSize(asked);
  if (bytes === undefined || bytes <= 0) throw new Error(`--guest-memory: "${asked}" is not a size (use e.g. 2G or 512M)`);
  if (bytes > most) throw new Error(`--guest-memory: ${asked} is more than this host can give its guests (${formatSize(most)}B: its ${formatSize(hostBytes)}B less a reserve of 1 GiB or a tenth)`);
  return bytes;
}

export class MemoryBalancer {
  private readonly deps: MemoryBalancerDeps;
  private readonly tracked = new Map<string, Tracked>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private paused: () => boolean = () => false;
  private last: MemoryStatus;
  /** The ceilings of the running guests fitted the budget last round: only the new and the lowered are read. */
  private fits = false;

  constructor(deps: MemoryBalancerDeps) {
    this.deps = deps;
    this.last = { budgetBytes: deps.budgetBytes, overcommitted: false, dryRun: deps.dryRun, guests: [] };
  }

  start(paused: () => boolean): void {
    this.paused = paused;
    this.deps.log(`autonomic: guest memory budget ${formatSize(this.deps.budgetBytes)}B${this.deps.dryRun ? ' (dry run: moves are logged, not made)' : ''}`);
    this.timer = setInterval(() => void this.round(), this.deps.everyMs ?? 1000);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  status(): MemoryStatus {
    return this.last;
  }

  /** One round of monitor, analyse, plan, execute; a round still running when the next is due makes it wait. */
  async round(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      if (this.quiet()) return;
      const skipped = new Set<string>();
      const views = await this.deps.guests.memoryGuests((v) => {
        if (this.mustRead(v)) return true;
        skipped.add(v.name);
        return false;
      });
      const now = Date.now();
      for (const name of this.tracked.keys()) if (!views.some((v) => v.name === name)) this.tracked.delete(name);
      const guests: MemoryGuest[] = [];
      const shown: MemoryGuestStatus[] = [];
      for (const v of views) {
        const { guest, status } = this.read(v, now);
        if (guest) guests.push(guest);
        shown.push(status);
      }
      const plan = planMemory(this.deps.budgetBytes, guests);
      this.last = { budgetBytes: this.deps.budgetBytes, overcommitted: plan.overcommitted, dryRun: this.deps.dryRun, guests: shown };
      const unread = views.some((v) => v.bounds && v.mechanism && v.autonomic === 'on' && skipped.has(v.name));
      this.fits = !plan.overcommitted;
      // a guest left unread (the budget fitted last round) is no donor to trust: all are read next round
      if (plan.overcommitted && unread) return;
      this.sayStarved(guests, plan);
      if (this.paused()) return;
      // the new have been seen: from now on they are balanced as the others
      for (const g of guests) if (g.isNew) this.tracked.get(g.name)!.seen = true;
      // what lowers a guest first, then what raises one: the budget holds at every step
      const order = [...plan.moves].sort((a, b) => Number(a.toBytes > a.fromBytes) - Number(b.toBytes > b.fromBytes));
      for (const move of order) await this.execute(move);
    } catch (e) {
      this.deps.log(`autonomic: memory round failed: ${(e as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  /**
   * While the ceilings of the guests the store says run fit the budget and none is known to hold
   * less, there is nothing to do and nothing is asked of the host (a lodged of a thousand guests
   * must not look at each one every second): the status shows each at its ceiling.
   */
  private quiet(): boolean {
    if (!this.fits || this.deps.dryRun || [...this.tracked.values()].some((t) => t.lowered)) return false;
    const running = this.deps.guests.runningMemoryBounds();
    const ceilings = running.reduce((a, g) => a + (g.bounds?.ceilingBytes ?? 0), 0);
    if (ceilings > this.deps.budgetBytes) return false;
    const how = (g: (typeof running)[number]) => this.last.guests.find((s) => s.name === g.name)?.how ?? 'holds its ceiling (the ceilings fit the budget)';
    this.last = {
      ...this.last,
      overcommitted: false,
      guests: running.map((g) =>
        g.bounds ? { name: g.name, kind: g.kind, ...g.bounds, allocationBytes: g.bounds.ceilingBytes, how: how(g) } : { name: g.name, kind: g.kind, how: 'no memory limit: not balanced, and not counted in the budget (give it --memory)' },
      ),
    };
    return true;
  }

  /** A guest's engine is read when the budget is overcommitted, at its first round, and while it holds less than its ceiling. */
  private mustRead(v: MemoryGuestView): boolean {
    const t = this.tracked.get(v.name);
    return !this.fits || !t || t.pid !== v.pid || t.lowered === true || this.deps.dryRun;
  }

  /** A guest as the plan takes it (none when it has no ceiling), and as the status shows it. */
  private read(v: MemoryGuestView, now: number): { guest?: MemoryGuest; status: MemoryGuestStatus } {
    const base = { name: v.name, kind: v.kind };
    if (!v.bounds) return { status: { ...base, ...(v.usedBytes !== undefined ? { usedBytes: v.usedBytes } : {}), how: 'no memory limit: not balanced, and not counted in the budget (give it --memory)' } };
    const { floorBytes, ceilingBytes } = v.bounds;
    const bounds = { floorBytes, ceilingBytes };
    const fixed = (how: string, usedBytes = v.reading?.usedBytes ?? v.usedBytes, allocationBytes = ceilingBytes) => ({
      guest: { name: v.name, ...bounds, allocationBytes, usedBytes: usedBytes ?? 0 },
      status: { ...base, ...bounds, allocationBytes, ...(usedBytes !== undefined ? { usedBytes } : {}), how },
    });
    if (v.autonomic === 'off') return fixed('out of the loop (--autonomic off): holds its ceiling');
    if (!v.mechanism) return fixed(`its memory is fixed while it runs (its kernel booted with it): counted at its ceiling; a smaller --memory takes effect at its next start`);
    if (!v.reading) {
      const t = this.tracked.get(v.name);
      // not read: it held its ceiling when last read, and the budget fitted
      if (t && t.pid === v.pid && !t.lowered) return fixed(v.mechanism);
      // its engine did not answer: it holds what it held, and neither gives nor gets this round
      if (t && t.pid === v.pid && t.allocation !== undefined) return fixed(`${v.mechanism}: no reading this round (its engine did not answer in time)`, undefined, t.allocation);
      return fixed(`${v.mechanism}: no reading yet (counted at its ceiling)`);
    }
    let t = this.tracked.get(v.name);
    if (!t || t.pid !== v.pid) {
      // a new start: its engine holds its ceiling again
      t = { pid: v.pid, seen: false };
      this.tracked.set(v.name, t);
    }
    t.lowered = v.reading.allocationBytes < ceilingBytes;
    t.allocation = v.reading.allocationBytes;
    const kills = v.reading.oomKills;
    if (kills !== undefined && t.oomKills !== undefined && kills > t.oomKills) {
      this.deps.log(`autonomic: ${v.name} had ${kills - t.oomKills} process(es) killed for want of memory at ${formatSize(v.reading.allocationBytes)}B (${kills} since it started)`);
    }
    t.oomKills = kills;
    const allocationBytes = this.deps.dryRun ? (t.virtual ?? v.reading.allocationBytes) : v.reading.allocationBytes;
    const guest: MemoryGuest = { name: v.name, ...bounds, allocationBytes, usedBytes: v.reading.usedBytes, mechanism: v.mechanism, ...(t.seen ? {} : { isNew: true }) };
    if (isShort(guest)) t.shortSince ??= now;
    else delete t.shortSince;
    if (t.shortSince !== undefined) guest.shortForMs = now - t.shortSince;
    return { guest, status: { ...base, ...bounds, allocationBytes, usedBytes: v.reading.usedBytes, how: v.mechanism } };
  }

  /** A short guest that nothing could be given to is said once, until it is given some or is no longer short. */
  private sayStarved(guests: MemoryGuest[], plan: ReturnType<typeof planMemory>): void {
    const now = new Set<string>();
    for (const { name, reason } of starved(this.deps.budgetBytes, guests, plan)) {
      const t = this.tracked.get(name);
      if (t && !t.starved) this.deps.log(`autonomic: ${reason}`);
      if (t) t.starved = true;
      now.add(name);
    }
    for (const [name, t] of this.tracked) if (!now.has(name)) delete t.starved;
  }

  private async execute(move: MemoryMove): Promise<void> {
    const reason = this.deps.dryRun ? `dry run: would have: ${move.reason}` : move.reason;
    this.deps.log(`autonomic: ${reason}`);
    const op = this.deps.operations.start(
      memoryAction,
      move.guest,
      async ({ progress }) => {
        if (this.deps.dryRun) {
          for (const t of move.takes) this.book(t.guest, t.toBytes);
          return this.book(move.guest, move.toBytes);
        }
        for (const t of move.takes) {
          progress(10, `lowering ${t.guest} to ${formatSize(t.toBytes)}B (${t.mechanism})`);
          await this.deps.guests.setMemoryAllocation(t.guest, t.toBytes);
          this.book(t.guest, t.toBytes);
        }
        progress(60, `${move.toBytes > move.fromBytes ? 'raising' : 'lowering'} ${move.guest} to ${formatSize(move.toBytes)}B`);
        await this.deps.guests.setMemoryAllocation(move.guest, move.toBytes);
        this.book(move.guest, move.toBytes);
      },
      { reason },
    );
    // its real end: a move still going when the next round comes would overlap it on the same guests
    let done = await this.deps.operations.wait(op.id, 60_000);
    while (done.status === 'running') done = await this.deps.operations.wait(op.id, 60_000);
    if (done.status === 'failure') this.deps.log(`autonomic: ${move.guest}: ${done.error?.message ?? 'failed'}${done.error?.cause ? `: ${done.error.cause}` : ''}`);
  }

  /** What the loop gave a guest: in dry run its own book; else what it holds now, read again next round. */
  private book(name: string, bytes: number): void {
    const t = this.tracked.get(name);
    if (!t) return;
    if (this.deps.dryRun) t.virtual = bytes;
    else Object.assign(t, { allocation: bytes, lowered: true });
  }
}
