/**
 * @module Runs Lodge's planner in the simulator: the data centre of one interval becomes the
 * planner's hosts and guests, its migrations become the simulator's moves. A host with guests
 * is on, an empty one asleep (the simulator's power rule). Running VMs take no memory on a
 * host, as in CloudSim (see Scratch.creating): the baselines are held to no memory limit
 * after the first placement, so the planner is given none either; a VM's RAM still sets how
 * long its migration takes.
 */
import { plan, type PlanGuest, type PlanHost, type PlannerOptions } from '../planner/plan.js';
import type { HostType } from '../planner/model.js';
import type { Move } from './baseline.js';
import type { TraceVm } from './traces.js';

/** The guests' history the planner is given, in samples: more than its sleep window reads. */
const historySamples = 12;

/** One interval's moves: `guests` lists each host's VMs, `sample` is now. */
export function lodgeMoves(hosts: readonly HostType[], vms: readonly TraceVm[], guests: readonly (readonly number[])[], sample: number, options: Partial<PlannerOptions>): Move[] {
  const planHosts: PlanHost[] = hosts.map((type, h) => ({ type: { ...type, ramMb: Infinity }, state: guests[h]!.length > 0 ? 'on' : 'asleep' }));
  const planGuests: PlanGuest[] = [];
  const vmOf: number[] = [];
  guests.forEach((list, h) => {
    for (const v of list) {
      const vm = vms[v]!;
      const from = Math.max(0, sample + 1 - historySamples);
      planGuests.push({ host: h, cpu: vm.type.mips, memoryMb: vm.type.ramMb, history: vm.util.subarray(from, sample + 1).map((u) => u * vm.type.mips) });
      vmOf.push(v);
    }
  });
  return plan(planHosts, planGuests, options).migrations.map((m) => ({ vm: vmOf[m.guest]!, to: m.to }));
}
