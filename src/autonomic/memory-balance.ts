/**
 * @module Memory balancing, the decision alone: given the guest memory budget and each running
 * guest's floor, ceiling, allocation and use, the allocations of the next round and the moves
 * that lead there, each with its reason in words. Pure (no clock, no engine): core reads the
 * guests, asks this, and applies the moves through each kind's live mechanism.
 *
 * While the ceilings of the guests fit the budget, every guest holds its ceiling. Past that
 * (overcommit), a guest new to the loop is given its fair share of the budget; a guest is short
 * when it uses most of its allocation and gets memory from what the budget has free, then from
 * idle guests (those that use well under theirs), never taking one below its floor or what it
 * uses plus a margin, nor giving one past its ceiling, nor exceeding the budget. What the
 * budget has free after that goes back to the guests under their fair share.
 */
import { formatSize } from '../api/sizes.js';

const MiB = 1024 * 1024;
/** A guest using this share of its allocation or more is short. */
export const shortRatio = 0.85;
/** A guest using less than this share of its allocation is idle, and may give memory. */
export const idleRatio = 0.5;
/** A short guest is given enough that its use is this share of its new allocation. */
const afterRatio = 0.6;
/** The least a short guest is given at once: growth in smaller steps would be too late. */
const minimumStep = 32 * MiB;
/** What a donor keeps above its use, at least: room for its page cache and its next allocations (a quarter more leaves it at 80 % of what it keeps, under shortRatio: a donor is not short at once). */
const minimumMargin = 16 * MiB;
const marginRatio = 0.25;

export interface MemoryGuest {
  name: string;
  floorBytes: number;
  ceilingBytes: number;
  /** What it holds now. */
  allocationBytes: number;
  /** What it uses (caches it could drop left out where the engine tells them apart). */
  usedBytes: number;
  /** How its allocation changes while it runs ("cgroup limit", "balloon"); none: it keeps what it holds until it stops. */
  mechanism?: string;
  /** New to the loop: it started holding its ceiling, and is given its share when the budget is overcommitted. */
  isNew?: boolean;
  /** How long it has been short, as the caller saw it (words only). */
  shortForMs?: number;
}

export interface MemoryMove {
  /** The guest whose allocation changes (the one given memory, or the one that gives it back). */
  guest: string;
  /** Its allocation before and after. */
  fromBytes: number;
  toBytes: number;
  /** Donors this move took from, each lowered before the guest is raised. */
  takes: Array<{ guest: string; fromBytes: number; toBytes: number; mechanism: string }>;
  reason: string;
}

export interface MemoryPlan {
  /** The allocation of each guest after the moves. */
  allocations: Map<string, number>;
  moves: MemoryMove[];
  overcommitted: boolean;
}

const size = (bytes: number) => `${formatSize(bytes)}B`;
const down = (bytes: number) => Math.floor(bytes / MiB) * MiB;
const up = (bytes: number) => Math.ceil(bytes / MiB) * MiB;
const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));
const percent = (g: MemoryGuest) => Math.round((100 * g.usedBytes) / g.allocationBytes);
const duration = (ms: number) => (ms < 1000 ? 'now' : `for ${Math.round(ms / 1000)} s`);

/** What a guest keeps when it gives memory: its floor, or its use and a margin, whichever is more. */
export function keepBytes(g: Pick<MemoryGuest, 'floorBytes' | 'ceilingBytes' | 'usedBytes'>): number {
  return Math.min(g.ceilingBytes, Math.max(g.floorBytes, up(g.usedBytes + Math.max(minimumMargin, g.usedBytes * marginRatio))));
}

export const isShort = (g: MemoryGuest) => g.usedBytes >= shortRatio * g.allocationBytes && g.allocationBytes < g.ceilingBytes;
export const isIdle = (g: MemoryGuest) => g.usedBytes < idleRatio * g.allocationBytes;

/** A guest's fair share of the budget: an equal part, within its bounds. */
function fairShare(budgetBytes: number, count: number, g: MemoryGuest): number {
  return clamp(down(budgetBytes / count), g.floorBytes, g.ceilingBytes);
}

export function planMemory(budgetBytes: number, guests: readonly MemoryGuest[]): MemoryPlan {
  const alloc = new Map(guests.map((g) => [g.name, g.allocationBytes]));
  const moves: MemoryMove[] = [];
  const live = guests.filter((g) => g.mechanism !== undefined);
  const ceilings = guests.reduce((a, g) => a + g.ceilingBytes, 0);
  const set = (g: MemoryGuest, bytes: number, reason: string, takes: MemoryMove['takes'] = []) => {
    moves.push({ guest: g.name, fromBytes: alloc.get(g.name)!, toBytes: bytes, takes, reason });
    alloc.set(g.name, bytes);
  };

  if (ceilings <= budgetBytes) {
    for (const g of live) {
      if (g.allocationBytes < g.ceilingBytes) set(g, g.ceilingBytes, `the ceilings of the running guests (${size(ceilings)}) fit the guest memory budget (${size(budgetBytes)}): ${g.name} holds its ceiling again (${g.mechanism})`);
    }
    return { allocations: alloc, moves, overcommitted: false };
  }

  const used = () => [...alloc.values()].reduce((a, b) => a + b, 0);
  const over = `the ceilings of the running guests (${size(ceilings)}) exceed the guest memory budget (${size(budgetBytes)})`;
  // a guest that just started holds its ceiling: it is given its share
  for (const g of live.filter((g) => g.isNew)) {
    const share = Math.max(fairShare(budgetBytes, guests.length, g), Math.min(g.ceilingBytes, keepBytes(g)));
    if (share < g.allocationBytes) set(g, share, `${over}: ${g.name} is given its fair share, ${size(share)} of its ${size(g.ceilingBytes)} ceiling (${g.mechanism})`);
  }

  const view = (g: MemoryGuest): MemoryGuest => ({ ...g, allocationBytes: alloc.get(g.name)! });
  const short = live.map(view).filter(isShort).sort((a, b) => b.usedBytes / b.allocationBytes - a.usedBytes / a.allocationBytes);
  const shortNames = new Set(short.map((g) => g.name));
  // donors: the largest surplus first
  const surplus = (g: MemoryGuest) => Math.max(0, alloc.get(g.name)! - keepBytes(g));
  const donors = (all: boolean) =>
    live
      .filter((g) => !shortNames.has(g.name) && (all || isIdle(view(g))) && surplus(g) > 0)
      .sort((a, b) => surplus(b) - surplus(a));

  // over the budget (a guest came that could not be given less): taken back from every guest that is not short
  let excess = used() - budgetBytes;
  for (const d of excess > 0 ? donors(true) : []) {
    if (excess <= 0) break;
    const take = Math.min(surplus(d), up(excess));
    const from = alloc.get(d.name)!;
    set(d, from - take, `the allocations exceed the guest memory budget (${size(budgetBytes)}) by ${size(excess)}: ${d.name} gives ${size(take)} back (${d.mechanism}), keeping ${size(from - take)} (it uses ${size(d.usedBytes)})`);
    excess -= take;
  }

  for (const s of short) {
    const now = alloc.get(s.name)!;
    const want = Math.min(s.ceilingBytes, Math.max(now + minimumStep, up(s.usedBytes / afterRatio))) - now;
    const sources: string[] = [];
    const takes: MemoryMove['takes'] = [];
    let got = Math.max(0, Math.min(want, down(budgetBytes - used())));
    if (got > 0) sources.push(`${size(got)} the budget had free`);
    for (const d of donors(false)) {
      if (got >= want) break;
      const take = Math.min(surplus(d), want - got);
      const from = alloc.get(d.name)!;
      takes.push({ guest: d.name, fromBytes: from, toBytes: from - take, mechanism: d.mechanism! });
      alloc.set(d.name, from - take);
      sources.push(`${size(take)} from idle ${d.name} (${d.mechanism}, it uses ${size(d.usedBytes)} of ${size(from)})`);
      got += take;
    }
    if (got === 0) continue;
    const why = `${s.name} used ${percent(s)}% of its ${size(now)} ${duration(s.shortForMs ?? 0)}`;
    set(s, now + got, `${why}; took ${sources.join(' and ')}, gave it to ${s.name} (${s.mechanism}): ${size(now)} -> ${size(now + got)} of its ${size(s.ceilingBytes)} ceiling`, takes);
  }

  // what the budget still has free goes back to the guests left under their fair share (by a
  // guest that came and was counted at its ceiling until it could be read, or one that stopped)
  const under = (g: MemoryGuest) => fairShare(budgetBytes, guests.length, g) - alloc.get(g.name)!;
  for (const g of live.filter((g) => !shortNames.has(g.name) && under(g) > 0).sort((a, b) => under(b) - under(a))) {
    const free = down(budgetBytes - used());
    const back = Math.min(under(g), free);
    if (back <= 0) break;
    const from = alloc.get(g.name)!;
    set(g, from + back, `the guest memory budget (${size(budgetBytes)}) has ${size(free)} free: ${g.name} gets back towards its fair share (${g.mechanism}): ${size(from)} -> ${size(from + back)} of its ${size(g.ceilingBytes)} ceiling`);
  }
  return { allocations: alloc, moves, overcommitted: true };
}

/** The short guests a plan could give nothing to: no memory was free or idle. */
export function starved(budgetBytes: number, guests: readonly MemoryGuest[], plan: MemoryPlan): Array<{ name: string; reason: string }> {
  if (!plan.overcommitted) return [];
  const given = new Set(plan.moves.map((m) => m.guest));
  return guests.filter((g) => g.mechanism !== undefined && isShort(g) && !given.has(g.name)).map((g) => ({ name: g.name, reason: `${g.name} used ${percent(g)}% of its ${size(g.allocationBytes)} and no memory was free or idle within the budget (${size(budgetBytes)})` }));
}

/** The guest memory budget unless told a smaller one: the host's memory less a reserve of 1 GiB or a tenth, whichever is more. */
export function defaultGuestMemory(hostBytes: number): number {
  return down(hostBytes - Math.max(1024 * MiB, hostBytes / 10));
}
