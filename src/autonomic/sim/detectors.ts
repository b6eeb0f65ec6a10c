/**
 * @module Host overload detection of Beloglazov & Buyya (2012) as CloudSim ran it for the
 * paper: a static threshold on the requested CPU now (THR), and local regression (LR) over the
 * host's last 10 samples, projected one migration ahead and scaled by a safety parameter,
 * falling back to a 0.7 threshold while the history is shorter than 10.
 */
import { migrationSeconds } from '../planner/model.js';
import type { Scratch } from './scratch.js';
import { sampleSeconds } from './traces.js';

export interface Detector {
  readonly name: string;
  overloaded(s: Scratch, h: number): boolean;
}

export function threshold(limit: number): Detector {
  return { name: `THR-${limit}`, overloaded: (s, h) => s.reqMips[h]! / s.capacity[h]! > limit };
}

const lrPoints = 10;

/**
 * The weight of each of `n` samples (the last is the newest) in LR's fit. CloudSim gives its
 * regression 1/k, k the tricube of a sample's distance from the newest (the two oldest take
 * the third's), and the regression library of the paper's time (Flanagan's) takes those as
 * the samples' standard deviations: each weighs k². CloudSim 3.0.3 moved to Apache Commons
 * Math and, misreading Flanagan's rule for zero weights, has fitted without weights since;
 * the paper's LR migrations come back only with them (README, Autonomic management).
 */
export function tricubeWeights(n: number): number[] {
  const top = n - 1;
  const k = Array.from({ length: n }, (_, i) => (1 - ((top - Math.max(i, 2)) / top) ** 3) ** 3);
  return k.map((x) => x * x);
}

/** Weighted least-squares intercept and slope of y over x = 1..n. */
export function linearFit(y: readonly number[], w: readonly number[] = y.map(() => 1)): [number, number] {
  let sw = 0;
  let sx = 0;
  let sy = 0;
  y.forEach((v, i) => {
    sw += w[i]!;
    sx += w[i]! * (i + 1);
    sy += w[i]! * v;
  });
  const mx = sx / sw;
  const my = sy / sw;
  let sxy = 0;
  let sxx = 0;
  y.forEach((v, i) => {
    sxy += w[i]! * (i + 1 - mx) * (v - my);
    sxx += w[i]! * (i + 1 - mx) ** 2;
  });
  const slope = sxy / sxx;
  return [my - slope * mx, slope];
}

const weights = tricubeWeights(lrPoints);

export function localRegression(safety: number, fallback: Detector = threshold(0.7)): Detector {
  return {
    name: `LR-${safety}`,
    overloaded(s, h) {
      const hist = s.hostHistory(h);
      if (hist.length < lrPoints) return fallback.overloaded(s, h);
      const y = hist.slice(0, lrPoints).reverse();
      const [a, b] = linearFit(y, weights);
      const host = s.hosts[h]!;
      const maxRam = Math.max(...s.guests[h]!.map((v) => s.vms[v]!.type.ramMb));
      const intervals = Math.ceil(migrationSeconds(maxRam, host.bwMbit) / sampleSeconds);
      return (a + b * (lrPoints + intervals)) * safety >= 1;
    },
  };
}
