/**
 * @module CPU weighting, the decision alone: from each running guest's CPU seconds over the last
 * rounds and its priority, the CPU weight (v1's cpu.shares unit) it should hold, with the reason
 * in words. Pure (no clock, no engine): core reads the guests, asks this, and sets the weights
 * that differ.
 *
 * A guest's base weight is what its limits.cpu gives (1024 a CPU, the kernel's default for
 * none) times its priority: low half, normal once, high twice. A guest that has kept busy nearly
 * all the CPU it may use (one CPU, or its limit when that is less) for a whole window is a
 * spinner: it drops to a quarter of its base, so that guests that want the CPU for a moment
 * (interactive ones) go first. It gets its base back only once it has been quiet, well under
 * that mark in every round, for half a window: the two marks and the two spans keep it from
 * flapping. Weights only
 * order guests when the CPUs are contended; an idle host still gives a spinner all it asks.
 */
import type { Priority } from '../api/guests.js';

/** Share of what it may use that a spinner keeps busy, averaged over the window. */
export const spinRatio = 0.9;
/** Share under which a lowered guest counts as quiet, in every round of the quiet span. */
export const quietRatio = 0.25;
/** A spinner's weight, as a share of its base. */
export const spinnerFactor = 0.25;
export const priorityFactors: Readonly<Record<Priority, number>> = { low: 0.5, normal: 1, high: 2 };
const priorityWords: Readonly<Record<Priority, string>> = { low: 'half', normal: 'once', high: 'twice' };
const minShares = 2;
const maxShares = 262_144;

export interface CpuSample {
  atMs: number;
  cpuSeconds: number;
}

export interface CpuGuest {
  name: string;
  priority: Priority;
  /** Its limits.cpu, in CPUs, where it has one. */
  cpuLimit?: number;
  /** Out of the loop (--autonomic off): it holds its base weight, spinning or not. */
  outOfLoop?: boolean;
  /** Its cgroup's CPU seconds at each round since its engine started, oldest first. */
  samples: readonly CpuSample[];
  /** The loop lowered it as a spinner, and it has not been quiet since (the caller keeps this between rounds). */
  lowered: boolean;
}

export interface CpuSettings {
  /** How long a guest must keep busy to be lowered. */
  windowMs: number;
  /** How long a lowered guest must be quiet to get its base back. */
  quietMs: number;
}

export interface CpuDecision {
  name: string;
  /** The weight it should hold. */
  shares: number;
  lowered: boolean;
  /** Why, in words, to be followed by the change ("; its shares 1024 -> 256 ..."). */
  why: string;
  /** What the change is for, said after it (with its lead: " so ...", ", ..."), or nothing. */
  so: string;
}

const clampShares = (n: number) => Math.min(maxShares, Math.max(minShares, Math.round(n)));

/** What limits.cpu alone gives today (1024 a CPU, the kernel's default without one), weighed by the priority. */
export function baseShares(priority: Priority, cpuLimit: number | undefined): number {
  return clampShares((cpuLimit ?? 1) * 1024 * priorityFactors[priority]);
}

/** A spinner's weight: a quarter of its base. */
export function spinnerShares(priority: Priority, cpuLimit: number | undefined): number {
  return clampShares(baseShares(priority, cpuLimit) * spinnerFactor);
}

/** What a guest may keep busy: one CPU, or its limit when that is less (a one-thread spinner keeps one CPU busy whatever its limit). */
const reference = (g: CpuGuest) => Math.min(1, g.cpuLimit ?? 1);

/**
 * Its average use over the last `spanMs`, as a share of what it may use, each round's counted up
 * to that (two threads busy for half the window have not kept a CPU busy for the window);
 * undefined while its samples do not span that long.
 */
export function useOver(g: CpuGuest, spanMs: number): number | undefined {
  const rounds = roundsOver(g, spanMs);
  if (!rounds) return undefined;
  const seconds = rounds.reduce((a, r) => a + r.seconds, 0);
  return rounds.reduce((a, r) => a + r.share * r.seconds, 0) / seconds;
}

/** Its busiest round over the last `spanMs`, as a share of what it may use; undefined while its samples do not span that long. */
export function peakOver(g: CpuGuest, spanMs: number): number | undefined {
  const rounds = roundsOver(g, spanMs);
  return rounds && Math.max(0, ...rounds.map((r) => r.share));
}

/** Each round of the last `spanMs`: how long, and its use as a share of what it may use (at most all of it). */
function roundsOver(g: CpuGuest, spanMs: number): Array<{ seconds: number; share: number }> | undefined {
  const last = g.samples.at(-1);
  if (!last) return undefined;
  // from the newest sample at least spanMs older than the last
  let from = -1;
  for (const [i, s] of g.samples.entries()) if (last.atMs - s.atMs >= spanMs) from = i;
  if (from < 0) return undefined;
  const ref = reference(g);
  const rounds: Array<{ seconds: number; share: number }> = [];
  for (let i = from + 1; i < g.samples.length; i++) {
    const [a, b] = [g.samples[i - 1]!, g.samples[i]!];
    const seconds = (b.atMs - a.atMs) / 1000;
    // a counter that went back is a new cgroup: no use counted for that round
    if (seconds > 0) rounds.push({ seconds, share: Math.min(ref, Math.max(0, b.cpuSeconds - a.cpuSeconds) / seconds) / ref });
  }
  return rounds;
}

const percent = (share: number) => `${Math.round(share * 100)}%`;
const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

function what(g: CpuGuest): string {
  const ref = reference(g);
  return ref < 1 ? `its ${ref} CPU` : 'a CPU';
}

export function decideCpuShares(guests: readonly CpuGuest[], settings: CpuSettings): CpuDecision[] {
  return guests.map((g): CpuDecision => {
    const base = baseShares(g.priority, g.cpuLimit);
    const baseWhy = `${g.name} is of ${g.priority} priority (${priorityWords[g.priority]} the ${baseShares('normal', g.cpuLimit)} its limits give)`;
    if (g.outOfLoop) return { name: g.name, shares: base, lowered: false, why: `${baseWhy} and out of the loop (--autonomic off: not lowered when it spins)`, so: '' };
    const lowered = { name: g.name, shares: spinnerShares(g.priority, g.cpuLimit), lowered: true, so: ' so interactive guests go first' };
    if (g.lowered) {
      const peak = peakOver(g, settings.quietMs);
      if (peak !== undefined && peak < quietRatio) {
        return { name: g.name, shares: base, lowered: false, why: `${g.name} has been quiet for ${seconds(settings.quietMs)} (at most ${percent(peak)} of ${what(g)})`, so: `, its ${g.priority} priority's weight again` };
      }
      const recent = useOver(g, Math.min(settings.quietMs, settings.windowMs));
      return { ...lowered, why: `${g.name} still spins${recent === undefined ? '' : ` (${percent(recent)} of ${what(g)} over the last ${seconds(Math.min(settings.quietMs, settings.windowMs))})`}` };
    }
    const busy = useOver(g, settings.windowMs);
    if (busy !== undefined && busy >= spinRatio) return { ...lowered, why: `${g.name} used ${percent(busy)} of ${what(g)} for ${seconds(settings.windowMs)}` };
    return { name: g.name, shares: base, lowered: false, why: baseWhy, so: '' };
  });
}

/** The whole reason of a change from `from` shares: "spin1 used 98% of a CPU for 60 s; its shares 1024 -> 256 so interactive guests go first". */
export function describe(d: CpuDecision, from: number): string {
  return `${d.why}; its shares ${from} -> ${d.shares}${d.so}`;
}
