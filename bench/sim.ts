/**
 * The consolidation simulator: `npm run sim -- [--day D] [--policy P] [--traces DIR]`.
 * Replays each day of the PlanetLab traces (default ../shared/data/planetlab from the
 * repository root) on the paper's 800 hosts under each policy, prints the medians over the
 * days beside the paper's Table V, and writes bench/results/sim.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { dataCentre } from '../src/autonomic/planner/model.js';
import type { Metrics } from '../src/autonomic/sim/metrics.js';
import { policies } from '../src/autonomic/sim/policies.js';
import { simulate, type SimResult } from '../src/autonomic/sim/simulate.js';
import { listDays, readDay, samplesPerDay } from '../src/autonomic/sim/traces.js';

const repo = new URL('../../', import.meta.url);
const { values } = parseArgs({
  options: {
    day: { type: 'string', multiple: true },
    policy: { type: 'string', multiple: true },
    traces: { type: 'string', default: fileURLToPath(new URL('../shared/data/planetlab', repo)) },
    hosts: { type: 'string', default: '800' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(`npm run sim -- [--day YYYYMMDD]... [--policy P]... [--traces DIR] [--hosts N]
Replays each day of the PlanetLab traces under each policy (${Object.keys(policies).join(', ')}),
prints the medians over the days beside the paper's Table V and writes bench/results/sim.json.`);
  process.exit(0);
}

/** Table V of Beloglazov & Buyya (2012): medians over the 10 days. */
const paper: Record<string, Omit<Metrics, 'slatahPooled' | 'pdmPooled'>> = {
  NPA: { energyKwh: 2419.2, slatah: 0, pdm: 0, slav: 0, esv: 0, migrations: 0 },
  'THR-MMT-0.8': { energyKwh: 89.92, slatah: 0.0461, pdm: 0.001, slav: 4.57e-5, esv: 4.19e-3, migrations: 17180 },
  'LR-MMT-1.2': { energyKwh: 88.17, slatah: 0.0363, pdm: 0.0006, slav: 2.33e-5, esv: 1.98e-3, migrations: 11850 },
};

const days = values.day ?? listDays(values.traces);
const chosen = values.policy ?? Object.keys(policies);
for (const p of chosen) if (!(p in policies)) throw new Error(`--policy ${p}: unknown; one of ${Object.keys(policies).join(', ')}`);
const hosts = dataCentre(Number(values.hosts));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const runs: Record<string, Record<string, SimResult>> = {};
const seconds: Record<string, number> = {};
const workloads = days.map((day) => ({ day, vms: readDay(values.traces, day) }));
for (const p of chosen) {
  const started = performance.now();
  runs[p] = {};
  for (const { day, vms } of workloads) runs[p][day] = simulate(hosts, vms, policies[p]!, samplesPerDay);
  seconds[p] = (performance.now() - started) / 1000;
}

const keys = ['energyKwh', 'slatah', 'pdm', 'slav', 'esv', 'migrations', 'slatahPooled', 'pdmPooled', 'maxDecisionMs'] as const;
const medians = Object.fromEntries(chosen.map((p) => [p, Object.fromEntries(keys.map((k) => [k, median(Object.values(runs[p]!).map((r) => r[k]))]))]));

const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
const lines = [
  row(['policy', 'source', 'energy kWh', 'SLATAH', 'PDM', 'SLAV ×10⁻⁵', 'ESV ×10⁻³', 'migrations ×10³', 'SLATAH pooled', 'PDM pooled']),
  row(['---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
];
for (const p of chosen) {
  const ours = medians[p]!;
  const cite = paper[p];
  if (cite) lines.push(row([p, 'paper', cite.energyKwh.toFixed(2), pct(cite.slatah), pct(cite.pdm), (cite.slav * 1e5).toFixed(2), (cite.esv * 1e3).toFixed(2), (cite.migrations / 1e3).toFixed(2), '', '']));
  lines.push(row([p, 'Lodge sim', ours.energyKwh!.toFixed(2), pct(ours.slatah!), pct(ours.pdm!), (ours.slav! * 1e5).toFixed(2), (ours.esv! * 1e3).toFixed(2), (ours.migrations! / 1e3).toFixed(2), pct(ours.slatahPooled!), pct(ours.pdmPooled!)]));
}
console.log(`${days.length} day(s), ${hosts.length} hosts; medians over the days. SLATAH and PDM as the paper defines them (means over hosts, over VMs); pooled: as CloudSim's code computes them\n`);
console.log(lines.join('\n'));
console.log(`\n${chosen.map((p) => `${p}: ${seconds[p]!.toFixed(1)} s for ${days.length} day(s), slowest decision ${medians[p]!.maxDecisionMs!.toFixed(1)} ms (median over days)`).join('\n')}`);

const results = new URL('bench/results/', repo);
mkdirSync(results, { recursive: true });
writeFileSync(new URL('sim.json', results), `${JSON.stringify({ benchmark: 'sim', date: new Date().toISOString(), traces: values.traces, hosts: hosts.length, days, seconds, paper, medians, runs }, null, 2)}\n`);
