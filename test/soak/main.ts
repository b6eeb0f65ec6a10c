/**
 * @module `npm run soak -- --fuzz 10000 --kills 100`: the long versions of the hostile tests, each
 * against a private lodged, each printing its counts. A soak is one entry of `soaks` (its
 * flag takes how many rounds); the ones given run in the order of the table, and the exit
 * status is 1 when any found something wrong.
 */
import { parseArgs } from 'node:util';
import { crashSoakRun } from './crash.js';
import { fuzzSoak, type SoakResult } from './fuzz.js';

interface Soak {
  description: string;
  run: (rounds: number, options: { seed: number; concurrency: number }) => Promise<SoakResult>;
}

const soaks: Record<string, Soak> = {
  fuzz: { description: 'N requests generated from docs/openapi.json', run: (n, { seed, concurrency }) => fuzzSoak(n, seed, concurrency) },
  kills: { description: 'lodged killed N times at random moments of mixed operations on ct, pv and vm guests and networks', run: (n, { seed }) => crashSoakRun(n, seed) },
};

const { values: parsed } = parseArgs({
  options: {
    ...Object.fromEntries(Object.keys(soaks).map((name) => [name, { type: 'string' as const }])),
    seed: { type: 'string' },
    concurrency: { type: 'string' },
    help: { type: 'boolean' },
  },
});
const values = parsed as Record<string, string | boolean | undefined>;

const chosen = Object.keys(soaks).filter((name) => values[name] !== undefined);
if (values.help || !chosen.length) {
  process.stdout.write(`usage: npm run soak -- [--seed S] [--concurrency C] ${Object.keys(soaks).map((n) => `[--${n} N]`).join(' ')}\n`);
  for (const [name, soak] of Object.entries(soaks)) process.stdout.write(`  --${name} N  ${soak.description}\n`);
  process.exit(values.help ? 0 : 2);
}

const seed = values.seed === undefined ? Date.now() % 1_000_000 : Number(values.seed);
const concurrency = values.concurrency === undefined ? 1 : Number(values.concurrency);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  process.stderr.write('soak: --concurrency needs a count of parallel clients, e.g. --concurrency 8\n');
  process.exit(2);
}
let ok = true;
for (const name of chosen) {
  const rounds = Number(values[name]);
  if (!Number.isInteger(rounds) || rounds < 1) {
    process.stderr.write(`soak: --${name} needs a count, e.g. --${name} 100\n`);
    process.exit(2);
  }
  const result = await soaks[name]!.run(rounds, { seed, concurrency });
  process.stdout.write(`${name}:\n${result.report.map(([k, v]) => `  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('\n')}\n`);
  ok &&= result.ok;
}
process.exit(ok ? 0 : 1);
