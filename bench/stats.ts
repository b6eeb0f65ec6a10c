/**
 * @module What every benchmark prints and stores: medians, min-max and the ratio
 * against the raw engine, in bench/results/NAME.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';

export interface Series {
  what: string;
  medianMs: number;
  minMs: number;
  maxMs: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const elapsedMs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

export function series(what: string, xs: number[]): Series {
  return { what, medianMs: median(xs), minMs: Math.min(...xs), maxMs: Math.max(...xs) };
}

/** Prints the comparison and writes the result file. */
export function report(name: string, lodge: Series, raw: Series, runs: number, extra: Record<string, unknown> = {}): void {
  const f = (x: Series) => `${x.medianMs.toFixed(1)} ms (${x.minMs.toFixed(1)}-${x.maxMs.toFixed(1)})`;
  const ratio = lodge.medianMs / raw.medianMs;
  console.log(`${lodge.what}: ${f(lodge)}`);
  console.log(`${raw.what}: ${f(raw)}`);
  console.log(`ratio lodge/raw: ${ratio.toFixed(2)} (${runs} runs each, alternated)`);
  for (const [k, v] of Object.entries(extra)) console.log(`${k}: ${typeof v === 'number' ? v.toFixed(1) : JSON.stringify(v)}`);
  const out = new URL('../../bench/results/', import.meta.url);
  mkdirSync(out, { recursive: true });
  writeFileSync(new URL(`${name}.json`, out), `${JSON.stringify({ benchmark: name, runs, lodge, raw, ratio, ...extra, date: new Date().toISOString() }, null, 2)}\n`);
}
