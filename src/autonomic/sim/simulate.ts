/**
 * @module A trace-driven replay of one day of Beloglazov & Buyya's data centre. VMs are
 * placed at their full size, then every 300 s the policy decides its migrations from the
 * requests of that moment; each takes RAM / (half the link) and costs the VM 10 % of its
 * CPU meanwhile. Between samples each VM's request moves linearly to the next sample and a
 * host's power is the mean of its power at both ends (CloudSim's rule). SLATAH follows
 * CloudSim's host states, taken at each decision and at each migration's end: a host at
 * 100 % at a decision stays so until its last VM out has left, or to the next decision;
 * and a destination counts as at 100 % from the first migration's end of that decision to
 * the end of its last incoming one (CloudSim gives a VM arriving 10 % of its request). Placement takes effect at the decision: destinations carry a migrating VM for
 * its whole interval (CloudSim gives it to them a few seconds later).
 *
 * CloudSim also retires, for good, every VM that requests 0 MIPS at an update (its
 * PowerDatacenter takes such a VM for finished); with these traces, where 16 % of the
 * samples are 0 and 77 % of the VMs have one, that removes most VMs before the day ends and is how the paper's energy
 * falls below what serving every request would take. `retireIdle` (default on) replays it.
 */
import { hostMips, hostPower, migrationSeconds, powerAt, type HostType } from '../planner/model.js';
import { consolidate, placeAll } from './baseline.js';
import { lodgeMoves } from './lodge.js';
import { Meter, type Metrics } from './metrics.js';
import type { Policy } from './policies.js';
import { Scratch } from './scratch.js';
import { sampleSeconds, type TraceVm } from './traces.js';

export interface SimResult extends Metrics {
  /** The slowest decision of the day, milliseconds. */
  maxDecisionMs: number;
}

export interface SimOptions {
  /** Retire a VM at its first sample of 0 %, as CloudSim does (default true). */
  retireIdle?: boolean;
}

function baselineMoves(hosts: readonly HostType[], vms: readonly TraceVm[], guests: readonly number[][], k: number, req: Float64Array, policy: Policy) {
  const s = new Scratch(hosts, vms, k, req);
  guests.forEach((list, h) => list.forEach((v) => s.add(h, v)));
  return consolidate(s, policy.detector);
}

export function simulate(hosts: readonly HostType[], vms: readonly TraceVm[], policy: Policy, intervals: number, options: SimOptions = {}): SimResult {
  const retireIdle = options.retireIdle ?? true;
  const n = hosts.length;
  const meter = new Meter(n, vms.length);
  const cap = Float64Array.from(hosts, hostMips);
  const first = new Scratch(hosts, vms, 0, Float64Array.from(vms, (vm) => vm.type.mips), true);
  placeAll(first, policy.detector);
  // each host's guests in arrival order (MMT takes the first of equals)
  const guests = first.guests.map((list) => [...list]);
  const hostOf = new Int32Array(vms.length);
  guests.forEach((list, h) => list.forEach((v) => (hostOf[v] = h)));
  const live = new Uint8Array(vms.length).fill(1);
  const mipsPerHost = (req: Float64Array) => {
    const m = new Float64Array(n);
    for (let v = 0; v < vms.length; v++) if (live[v]) m[hostOf[v]!]! += req[v]!;
    return m;
  };
  const request = (k: number) => Float64Array.from(vms, (vm, v) => (live[v] ? vm.util[k]! * vm.type.mips : 0));
  let maxDecisionMs = 0;

  for (let k = 0; k < intervals; k++) {
    if (retireIdle) {
      vms.forEach((vm, v) => {
        if (!live[v] || vm.util[k] !== 0) return;
        live[v] = 0;
        guests[hostOf[v]!]!.splice(guests[hostOf[v]!]!.indexOf(v), 1);
      });
    }
    const req = request(k);
    const before = mipsPerHost(req);
    const hadGuests = guests.map((g) => g.length > 0);
    const leavingS = new Float64Array(n);
    const arrivingS = new Float64Array(n);
    let firstDoneS = Infinity;
    // CloudSim's first update, and decision, is at t = 0.1 s: right after the first placement
    if (policy.migrates) {
      const started = performance.now();
      const moves = policy.planner ? lodgeMoves(hosts, vms, guests, k, policy.planner) : baselineMoves(hosts, vms, guests, k, req, policy);
      maxDecisionMs = Math.max(maxDecisionMs, performance.now() - started);
      for (const { vm: v, to } of moves) {
        const from = hostOf[v]!;
        const seconds = migrationSeconds(vms[v]!.type.ramMb, hosts[from]!.bwMbit);
        meter.migration(v, req[v]!, seconds);
        leavingS[from] = Math.max(leavingS[from]!, seconds);
        arrivingS[to] = Math.max(arrivingS[to]!, seconds);
        firstDoneS = Math.min(firstDoneS, seconds);
        guests[from]!.splice(guests[from]!.indexOf(v), 1);
        guests[to]!.push(v);
        hostOf[v] = to;
      }
    }
    const now = mipsPerHost(req);
    const next = mipsPerHost(request(k + 1));
    for (let h = 0; h < n; h++) {
      const host = hosts[h]!;
      if (!policy.powerManaged) meter.energyJ += powerAt(host, 1) * sampleSeconds;
      if (guests[h]!.length > 0) {
        const full = now[h]! > cap[h]! ? sampleSeconds : before[h]! > cap[h]! ? Math.max(leavingS[h]!, arrivingS[h]!) : Math.max(0, arrivingS[h]! - firstDoneS);
        meter.host(h, sampleSeconds, full);
        if (policy.powerManaged) {
          const p0 = hostPower(host, guests[h]!.length, now[h]! / cap[h]!);
          const p1 = hostPower(host, guests[h]!.length, next[h]! / cap[h]!);
          meter.energyJ += ((p0 + p1) / 2) * sampleSeconds;
        }
      } else if (hadGuests[h]) {
        // emptied by this decision: on until its last VM has left
        meter.host(h, leavingS[h]!, before[h]! > cap[h]! ? leavingS[h]! : 0);
        if (policy.powerManaged) meter.energyJ += powerAt(host, Math.min(1, before[h]! / cap[h]!)) * leavingS[h]!;
      }
    }
    vms.forEach((vm, v) => {
      if (live[v]) meter.requestedMi[v]! += ((vm.util[k]! + vm.util[k + 1]!) / 2) * vm.type.mips * sampleSeconds;
    });
  }
  return { ...meter.summary(), maxDecisionMs };
}
