/**
 * @module What every benchmark reports: series of measurements as median and min-max,
 * and the ratio of Lodge's median to the raw engine's (or a peer's) in the same run.
 */

export interface Series {
  what: string;
  unit: string;
  runs: number;
  median: number;
  min: number;
  max: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const elapsedMs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

/** Times one call, in ms. */
export async function timed(f: () => unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  await f();
  return elapsedMs(t0);
}

export function series(what: string, unit: string, xs: readonly number[]): Series {
  if (xs.length === 0) throw new Error(`${what}: no measurement`);
  return { what, unit, runs: xs.length, median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

const digits = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(3).replace(/0+$/, '').replace(/\.$/, ''));

export function show(s: Series): string {
  return `${s.what}: ${digits(s.median)} ${s.unit} (${digits(s.min)}-${digits(s.max)}, ${s.runs} runs)`;
}

export interface Comparison {
  lodge: Series;
  against: Series;
  /** lodge's median over the other's: below 1 is faster for times, slower for rates. */
  ratio: number;
}

export function compare(lodge: Series, against: Series): Comparison {
  return { lodge, against, ratio: lodge.median / against.median };
}

export function showComparison(c: Comparison): string {
  return `${show(c.lodge)}\n${show(c.against)}\nratio: ${c.ratio.toFixed(2)}`;
}

/**
 * Where operations' time went: for each step of their timings (summed within one
 * operation when it repeats), the median over the operations, largest first.
 */
export function stepMedians(ops: readonly { timings?: { step: string; ms: number }[] }[]): Record<string, number> {
  const byStep = new Map<string, number[]>();
  for (const op of ops) {
    const sums = new Map<string, number>();
    for (const t of op.timings ?? []) sums.set(t.step, (sums.get(t.step) ?? 0) + t.ms);
    for (const [step, ms] of sums) byStep.set(step, [...(byStep.get(step) ?? []), ms]);
  }
  const medians = [...byStep].map(([step, xs]) => [step, Math.round(median(xs) * 10) / 10] as const);
  return Object.fromEntries(medians.sort((a, b) => b[1] - a[1]));
}

export const showSteps = (steps: Record<string, number>) =>
  Object.entries(steps)
    .map(([step, ms]) => `${step} ${ms} ms`)
    .join(', ');
