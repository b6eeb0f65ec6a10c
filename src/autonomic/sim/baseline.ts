/**
 * @module The dynamic consolidation of Beloglazov & Buyya (2012), as CloudSim's
 * PowerVmAllocationPolicyMigrationAbstract runs it every interval: find overloaded hosts
 * (the detector), pick VMs off them by minimum migration time (MMT: least RAM first) until
 * they are not, place those by power-aware best fit decreasing (PABFD), then repeatedly take
 * the least loaded host and move all its VMs away if they all fit elsewhere.
 */
import { powerAt } from '../planner/model.js';
import type { Detector } from './detectors.js';
import type { Scratch } from './scratch.js';

export interface Move {
  readonly vm: number;
  readonly to: number;
}

/** MMT: the VM with the least RAM (the first of equals). */
export function minimumMigrationTime(s: Scratch, h: number): number | undefined {
  let best: number | undefined;
  for (const v of s.guests[h]!) if (best === undefined || s.vms[v]!.type.ramMb < s.vms[best]!.type.ramMb) best = v;
  return best;
}

function fits(s: Scratch, h: number, v: number): boolean {
  const host = s.hosts[h]!;
  const req = s.req[v]!;
  const vm = s.vms[v]!.type;
  if (req > host.coreMips || s.capacity[h]! - s.usedMips(h) < req) return false;
  return !s.creating || (s.ramMb[h]! + vm.ramMb <= host.ramMb && s.bwMbit[h]! + vm.bwMbit <= host.bwMbit);
}

function overloadedWith(s: Scratch, d: Detector, h: number, v: number): boolean {
  s.add(h, v);
  const over = d.overloaded(s, h);
  s.remove(h, v);
  return over;
}

/**
 * PABFD: the host whose power grows least by taking `v`, among hosts that fit it and that it
 * would not overload. As in CloudSim when the paper was written, a host's power before and
 * after is reckoned from its load when the decision began (VMs placed during the decision do
 * not change it; an idle host counts its idle power), and a host idle then is not checked for
 * overload; CloudSim counts the VMs placed meanwhile since October 2012 (its issue 37, in
 * 3.0.2), which spreads VMs and changes every figure (README, Autonomic management). Hosts
 * empty since the start are alike, so only the first of each type is weighed.
 */
export function bestFit(s: Scratch, d: Detector, v: number, excluded: Uint8Array): number {
  let best = -1;
  let bestDiff = Infinity;
  const emptySeen = new Set<object>();
  for (let h = 0; h < s.hosts.length; h++) {
    if (excluded[h] || !fits(s, h, v)) continue;
    const empty = s.guests[h]!.length === 0 && s.startLoad[h] === 0;
    if (empty) {
      if (emptySeen.has(s.hosts[h]!)) continue;
      emptySeen.add(s.hosts[h]!);
    }
    if (s.startMips[h] !== 0 && overloadedWith(s, d, h, v)) continue;
    const after = Math.min(1, (s.startMips[h]! + s.req[v]!) / s.capacity[h]!);
    const diff = powerAt(s.hosts[h]!, after) - powerAt(s.hosts[h]!, s.startLoad[h]!);
    if (diff < bestDiff) {
      bestDiff = diff;
      best = h;
    }
  }
  return best;
}

const byRequestDecreasing = (s: Scratch) => (a: number, b: number) => s.req[b]! - s.req[a]!;

/**
 * The first placement: every VM in order (the largest type first) by PABFD at its requested
 * size. Every host counts as idle throughout (CloudSim has not measured any yet), so this is
 * first fit on the host type whose power grows least.
 */
export function placeAll(s: Scratch, d: Detector): void {
  const none = new Uint8Array(s.hosts.length);
  for (let v = 0; v < s.vms.length; v++) {
    const h = bestFit(s, d, v, none);
    if (h < 0) throw new Error(`no host can take VM ${v} (${s.vms[v]!.type.name})`);
    s.add(h, v);
  }
}

/** One interval's migrations. `s` holds the current placement; it is spent (VMs may end on two hosts). */
export function consolidate(s: Scratch, d: Detector): Move[] {
  const n = s.hosts.length;
  s.markStart();
  const overloaded = new Uint8Array(n);
  const leaving: number[] = [];
  for (let h = 0; h < n; h++) if (d.overloaded(s, h)) overloaded[h] = 1;
  for (let h = 0; h < n; h++) {
    if (!overloaded[h]) continue;
    for (let v = minimumMigrationTime(s, h); v !== undefined; v = minimumMigrationTime(s, h)) {
      leaving.push(v);
      s.remove(h, v);
      if (!d.overloaded(s, h)) break;
    }
  }
  const moves: Move[] = [];
  for (const v of leaving.sort(byRequestDecreasing(s))) {
    const h = bestFit(s, d, v, overloaded);
    if (h >= 0) {
      s.add(h, v);
      moves.push({ vm: v, to: h });
    }
  }
  // underloaded hosts: never asleep ones, never those that were overloaded
  const notSource = Uint8Array.from(overloaded, (o, h) => (o || s.startLoad[h] === 0 ? 1 : 0));
  const notTarget = Uint8Array.from(notSource);
  for (;;) {
    let u = -1;
    for (let h = 0; h < n; h++) {
      const load = s.startLoad[h]!;
      if (!notSource[h] && load > 0 && load < 1 && s.guests[h]!.length > 0 && (u < 0 || load < s.startLoad[u]!)) u = h;
    }
    if (u < 0) break;
    notSource[u] = 1;
    notTarget[u] = 1;
    const placed: Move[] = [];
    for (const v of [...s.guests[u]!].sort(byRequestDecreasing(s))) {
      const h = bestFit(s, d, v, notTarget);
      if (h < 0) {
        for (const m of placed) s.remove(m.to, m.vm);
        placed.length = 0;
        break;
      }
      s.add(h, v);
      placed.push({ vm: v, to: h });
    }
    for (const m of placed) notSource[m.to] = 1;
    moves.push(...placed);
  }
  return moves;
}
