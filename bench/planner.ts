/**
 * How long the planner takes to decide for the data centre of the issue: 800 hosts and
 * 1,500 guests (the first 1,500 VMs of the busiest PlanetLab day, none retired), placed as
 * the simulator first places them, then one decision per sample over the day with its
 * migrations applied. `node dist/bench/planner.js [--traces DIR]`; prints the p50 and the
 * slowest decision (target: under 50 ms). Times `plan()` alone, not building its input.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { dataCentre } from '../src/autonomic/planner/model.js';
import { plan, type PlanGuest, type PlanHost } from '../src/autonomic/planner/plan.js';
import { placeAll } from '../src/autonomic/sim/baseline.js';
import { threshold } from '../src/autonomic/sim/detectors.js';
import { Scratch } from '../src/autonomic/sim/scratch.js';
import { readDay, samplesPerDay } from '../src/autonomic/sim/traces.js';

const repo = new URL('../../', import.meta.url);
const { values } = parseArgs({
  options: { traces: { type: 'string', default: fileURLToPath(new URL('../shared/data/planetlab', repo)) } },
});
const day = '20110322';
const vms = readDay(values.traces, day).slice(0, 1500);
const hosts = dataCentre(800);
const first = new Scratch(hosts, vms, 0, Float64Array.from(vms, (vm) => vm.type.mips), true);
placeAll(first, threshold(0.8));
const hostOf = new Int32Array(vms.length);
first.guests.forEach((list, h) => list.forEach((v) => (hostOf[v] = h)));

const times: number[] = [];
let migrations = 0;
for (let k = 0; k < samplesPerDay; k++) {
  const busy = new Uint8Array(hosts.length);
  for (const h of hostOf) busy[h] = 1;
  const planHosts: PlanHost[] = hosts.map((type, h) => ({ type: { ...type, ramMb: Infinity }, state: busy[h] ? 'on' : 'asleep' }));
  const planGuests: PlanGuest[] = vms.map((vm, v) => ({
    host: hostOf[v]!,
    cpu: vm.type.mips,
    memoryMb: vm.type.ramMb,
    history: vm.util.subarray(Math.max(0, k - 11), k + 1).map((u) => u * vm.type.mips),
  }));
  const started = performance.now();
  const decided = plan(planHosts, planGuests);
  times.push(performance.now() - started);
  for (const m of decided.migrations) hostOf[m.guest] = m.to;
  migrations += decided.migrations.length;
}
times.sort((a, b) => a - b);
console.log(`planner, 800 hosts, 1500 guests (${day}), ${times.length} decisions, ${migrations} migrations: p50 ${times[times.length >> 1]!.toFixed(1)} ms, max ${times.at(-1)!.toFixed(1)} ms`);
