/**
 * @module Lodge's placement and consolidation planner: from hosts (type, on or asleep) and
 * guests (where they run, their memory, their recent CPU demand) it returns the next
 * interval's actions: migrations, hosts to put to sleep, hosts to wake. It is pure (no
 * engine, no clock, no I/O) and deterministic, so the one-host loop, the cluster and the
 * simulator run the same code.
 *
 * What it does, in order:
 * - A host whose guests ask for more than the top of the band now sheds the guests that
 *   relieve it at the least cost; a guest lands on the awake host it fills best without
 *   taking it past the band, and only if no awake host can take it is a sleeping one woken
 *   (DPM powers on from the last interval).
 * - A host whose guests' own histories kept it under the bottom of the band for the whole
 *   sleep window is emptied (the least efficient hosts first, then the least loaded), only
 *   if every one of its guests fits elsewhere under the band (DPM powers off from a longer
 *   window than it powers on: the hysteresis that keeps a host from being emptied and woken
 *   in turn). Consolidation is a choice, not an emergency, so a host takes a guest only if
 *   it would also hold what its guests are predicted to ask for: each guest's own high
 *   percentile of its recent samples. That keeps it from filling a host that the next
 *   interval would have to relieve.
 * - Every move passes a cost-benefit gate (DRS): its cost is the CPU its guest loses while it
 *   migrates (10 % of its demand for RAM / half the link), its benefit the overload it ends
 *   this interval, or the idle power that emptying its host saves over the sleep window,
 *   priced by `joulesPerLostMi`.
 *
 * Measured in the simulator (README, Autonomic management): a band of 45-100 % and a sleep
 * window of two intervals won. DPM's 40-minute sleep window, or the prediction applied to
 * relieving overloads too, cut SLA violations further but cost more energy than LR-MMT-1.2
 * spends; a band topped at DPM's 81 % was worse on every count.
 */
import { hostMips, migrationSeconds, powerAt, type HostType } from './model.js';

export interface PlanHost {
  readonly type: HostType;
  readonly state: 'on' | 'asleep';
}

export interface PlanGuest {
  /** Index of the host it runs on. */
  readonly host: number;
  /** Its size: the most CPU it can ask for, in the unit of `HostType.coreMips`. */
  readonly cpu: number;
  /** Its memory: what it takes on a host and what a migration copies. */
  readonly memoryMb: number;
  /** CPU it asked for at each past interval, oldest first; the last is now. */
  readonly history: ArrayLike<number>;
}

export interface Migration {
  readonly guest: number;
  readonly from: number;
  readonly to: number;
  readonly reason: 'overload' | 'consolidation';
}

export interface Plan {
  readonly migrations: Migration[];
  /** Hosts this plan empties: to put to sleep once their guests have left. */
  readonly sleep: number[];
  /** Sleeping hosts to wake before the migrations to them start. */
  readonly wake: number[];
}

export interface PlannerOptions {
  /** A host is kept between these shares of its CPU. */
  readonly low: number;
  readonly high: number;
  /** Samples of a guest's history its prediction reads (the last included), and the percentile it takes. */
  readonly predictWindow: number;
  readonly percentile: number;
  /** Intervals (the last included) a host must have stayed under `low` before it is emptied. */
  readonly sleepWindow: number;
  readonly intervalSeconds: number;
  /** What one lost million instructions (MI, the CPU unit × s) is worth in joules, for the gate. */
  readonly joulesPerLostMi: number;
}

export const defaultOptions: PlannerOptions = {
  low: 0.45,
  high: 1,
  predictWindow: 6,
  percentile: 0.8,
  sleepWindow: 2,
  intervalSeconds: 300,
  joulesPerLostMi: 1,
};

/** A guest's demand as its recent past suggests: the `percentile` of its last `predictWindow` samples (nearest rank). */
export function predictDemand(history: ArrayLike<number>, o: Pick<PlannerOptions, 'predictWindow' | 'percentile'>): number {
  const recent: number[] = [];
  for (let i = Math.max(0, history.length - o.predictWindow); i < history.length; i++) recent.push(history[i]!);
  recent.sort((a, b) => a - b);
  return recent[Math.max(0, Math.ceil(o.percentile * recent.length) - 1)] ?? 0;
}

export function plan(hosts: readonly PlanHost[], guests: readonly PlanGuest[], options: Partial<PlannerOptions> = {}): Plan {
  return new Planner(hosts, guests, { ...defaultOptions, ...options }).run();
}

/** One decision's working state; made and spent by `plan`. */
class Planner {
  readonly hosts: readonly PlanHost[];
  readonly guests: readonly PlanGuest[];
  readonly o: PlannerOptions;
  readonly cap: Float64Array;
  /** Per host, read in the inner loop: the band's top in CPU, one core's CPU, memory. */
  readonly limit: Float64Array;
  readonly coreMips: Float64Array;
  readonly memoryMb: Float64Array;
  /** Per host: watts per unit of CPU at full load; the less efficient are emptied first, the most efficient woken first. */
  readonly wattsPerMips: Float64Array;
  /** Hosts awake, in the order they are tried (index order, then as woken); emptied ones leave it. */
  readonly awake: number[];
  /** Per guest: CPU it asks for now, and as predicted; up to its size. */
  readonly demand: Float64Array;
  readonly predicted: Float64Array;
  /** Per host: the sums of its guests' demand now and predicted, and the memory they take. */
  readonly hostDemand: Float64Array;
  readonly hostPredicted: Float64Array;
  readonly hostMemory: Float64Array;
  readonly on: Uint8Array;
  readonly on0: Uint8Array;
  /** Hosts that received a guest: never emptied in this plan. */
  readonly received: Uint8Array;
  readonly onHost: number[][];
  readonly migrations: Migration[] = [];

  constructor(hosts: readonly PlanHost[], guests: readonly PlanGuest[], o: PlannerOptions) {
    if (!(o.low >= 0 && o.low < o.high && o.high <= 1)) throw new RangeError(`planner band ${o.low}..${o.high}: expected 0 <= low < high <= 1`);
    this.hosts = hosts;
    this.guests = guests;
    this.o = o;
    const n = hosts.length;
    this.cap = Float64Array.from(hosts, (h) => hostMips(h.type));
    this.limit = Float64Array.from(this.cap, (c) => o.high * c);
    this.coreMips = Float64Array.from(hosts, (h) => h.type.coreMips);
    this.memoryMb = Float64Array.from(hosts, (h) => h.type.ramMb);
    this.wattsPerMips = Float64Array.from(hosts, (h, i) => powerAt(h.type, 1) / this.cap[i]!);
    this.on = Uint8Array.from(hosts, (h) => (h.state === 'on' ? 1 : 0));
    this.awake = [];
    for (let h = 0; h < n; h++) if (this.on[h]) this.awake.push(h);
    this.on0 = Uint8Array.from(this.on);
    this.hostDemand = new Float64Array(n);
    this.hostPredicted = new Float64Array(n);
    this.hostMemory = new Float64Array(n);
    this.received = new Uint8Array(n);
    this.onHost = hosts.map(() => []);
    this.demand = new Float64Array(guests.length);
    this.predicted = new Float64Array(guests.length);
    guests.forEach((g, i) => {
      if (!(g.host >= 0 && g.host < n)) throw new RangeError(`guest ${i}: host ${g.host} is not one of the ${n} hosts`);
      if (!this.on[g.host]) throw new RangeError(`guest ${i}: host ${g.host} is asleep`);
      const h = g.history;
      this.demand[i] = h.length > 0 ? Math.min(g.cpu, h[h.length - 1]!) : 0;
      this.predicted[i] = Math.min(g.cpu, predictDemand(h, o));
      this.add(g.host, i);
    });
  }

  add(h: number, g: number): void {
    this.onHost[h]!.push(g);
    this.hostDemand[h]! += this.demand[g]!;
    this.hostPredicted[h]! += this.predicted[g]!;
    this.hostMemory[h]! += this.guests[g]!.memoryMb;
  }

  remove(h: number, g: number): void {
    const list = this.onHost[h]!;
    list.splice(list.indexOf(g), 1);
    this.hostDemand[h]! -= this.demand[g]!;
    this.hostPredicted[h]! -= this.predicted[g]!;
    this.hostMemory[h]! -= this.guests[g]!.memoryMb;
  }

  /** MI the guest loses migrating off `h`: 10 % of its demand for the copy's duration. */
  cost(g: number, h: number): number {
    return 0.1 * this.demand[g]! * migrationSeconds(this.guests[g]!.memoryMb, this.hosts[h]!.type.bwMbit);
  }

  /**
   * Whether `h` can take `g` (one core's worth at most) and stay under the band and within
   * its memory; and, when `predicted`, within its capacity by its guests' predicted demand.
   */
  fits(h: number, g: number, predicted: boolean): boolean {
    return (
      this.demand[g]! <= this.coreMips[h]! &&
      this.hostDemand[h]! + this.demand[g]! <= this.limit[h]! &&
      this.hostMemory[h]! + this.guests[g]!.memoryMb <= this.memoryMb[h]! &&
      (!predicted || this.hostPredicted[h]! + this.predicted[g]! <= this.cap[h]!)
    );
  }

  /** The awake host other than `from` that `g` fills best; -1 if none fits. */
  bestAwake(g: number, from: number, predicted: boolean): number {
    let best = -1;
    let bestLoad = -1;
    for (const h of this.awake) {
      if (h === from || !this.fits(h, g, predicted)) continue;
      const load = (this.hostDemand[h]! + this.demand[g]!) / this.cap[h]!;
      if (load > bestLoad) {
        best = h;
        bestLoad = load;
      }
    }
    return best;
  }

  /** The most efficient sleeping host that can take `g`; -1 if none. */
  bestAsleep(g: number): number {
    let best = -1;
    const seen = new Set<HostType>();
    for (let h = 0; h < this.hosts.length; h++) {
      const t = this.hosts[h]!.type;
      if (this.on[h] || seen.has(t)) continue;
      seen.add(t); // sleeping hosts of one type are alike: the first stands for all
      if (this.fits(h, g, false) && (best < 0 || this.wattsPerMips[h]! < this.wattsPerMips[best]!)) best = h;
    }
    return best;
  }

  move(g: number, from: number, to: number, reason: Migration['reason']): void {
    this.remove(from, g);
    this.add(to, g);
    if (!this.on[to]) this.awake.push(to);
    this.on[to] = 1;
    this.received[to] = 1;
    this.migrations.push({ guest: g, from, to, reason });
  }

  overloaded(h: number): boolean {
    return this.hostDemand[h]! > this.limit[h]!;
  }

  /**
   * Shed guests off `h` until it is back under the band. Each step takes the guest whose
   * removal alone suffices at the least cost, else the one relieving the most per cost.
   * A move is made only if it pays: the CPU-seconds of overload it ends this interval
   * outweigh what the guest loses migrating.
   */
  relieve(h: number): void {
    while (this.overloaded(h)) {
      const excess = this.hostDemand[h]! - this.limit[h]!;
      let pick = -1;
      let pickScore = Infinity;
      let sufficient = false;
      for (const g of this.onHost[h]!) {
        const c = this.cost(g, h);
        const enough = this.demand[g]! >= excess;
        const score = enough ? c : c / Math.max(this.demand[g]!, 1e-9);
        if ((enough && !sufficient) || (enough === sufficient && score < pickScore)) {
          pick = g;
          pickScore = score;
          sufficient = enough;
        }
      }
      if (pick < 0) return;
      const relief = Math.min(excess, this.demand[pick]!);
      if (relief * this.o.intervalSeconds < this.cost(pick, h)) return;
      let to = this.bestAwake(pick, h, false);
      if (to < 0) to = this.bestAsleep(pick);
      if (to < 0) return;
      this.move(pick, h, to, 'overload');
    }
  }

  /** Whether `h` stayed under the band's bottom for the whole sleep window (by its guests' histories). */
  quiet(h: number): boolean {
    const limit = this.o.low * this.cap[h]!;
    for (let back = 0; back < this.o.sleepWindow; back++) {
      let sum = 0;
      for (const g of this.onHost[h]!) {
        const hist = this.guests[g]!.history;
        const i = hist.length - 1 - back;
        if (i >= 0) sum += hist[i]!;
      }
      if (sum > limit) return false;
    }
    return true;
  }

  /** Empty `h` if every guest finds a place under the band and the idle power saved pays for the moves. */
  empty(h: number): void {
    const list = [...this.onHost[h]!].sort((a, b) => this.demand[b]! - this.demand[a]! || a - b);
    const saved = this.hosts[h]!.type.power[0]! * this.o.sleepWindow * this.o.intervalSeconds;
    let cost = 0;
    for (const g of list) cost += this.cost(g, h);
    if (cost * this.o.joulesPerLostMi > saved) return;
    const done: [number, number][] = [];
    for (const g of list) {
      const to = this.bestAwake(g, h, true);
      if (to < 0) {
        for (const [moved, dest] of done.reverse()) {
          this.remove(dest, moved);
          this.add(h, moved);
        }
        return;
      }
      this.remove(h, g);
      this.add(to, g);
      done.push([g, to]);
    }
    for (const [g, to] of done) {
      this.received[to] = 1;
      this.migrations.push({ guest: g, from: h, to, reason: 'consolidation' });
    }
    this.on[h] = 0;
    this.awake.splice(this.awake.indexOf(h), 1);
  }

  run(): Plan {
    const n = this.hosts.length;
    for (let h = 0; h < n; h++) if (this.on[h] && this.overloaded(h)) this.relieve(h);
    const quiet: number[] = [];
    for (let h = 0; h < n; h++) if (this.on[h] && !this.received[h] && this.onHost[h]!.length > 0 && this.quiet(h)) quiet.push(h);
    quiet.sort((a, b) => this.wattsPerMips[b]! - this.wattsPerMips[a]! || this.hostDemand[a]! / this.cap[a]! - this.hostDemand[b]! / this.cap[b]! || a - b);
    for (const h of quiet) if (!this.received[h]) this.empty(h);
    const sleep: number[] = [];
    const wake: number[] = [];
    for (let h = 0; h < n; h++) {
      if (this.on0[h] && this.onHost[h]!.length === 0) sleep.push(h);
      if (!this.on0[h] && this.on[h]) wake.push(h);
    }
    return { migrations: this.migrations, sleep, wake };
  }
}
