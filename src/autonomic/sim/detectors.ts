/**
 * @module Host overload detection of Beloglazov & Buyya (2012) as CloudSim implements it:
 * a static threshold on the requested CPU now (THR), and local regression (LR) over the
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

/** Least-squares intercept and slope of y over x = 1..n. */
export function linearFit(y: readonly number[]): [number, number] {
  const n = y.length;
  const mx = (n + 1) / 2;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  y.forEach((v, i) => {
    sxy += (i + 1 - mx) * (v - my);
    sxx += (i + 1 - mx) ** 2;
  });
  const slope = sxy / sxx;
  return [my - slope * mx, slope];
}

/**
 * CloudSim names this "local regression" but its tricube weights are all positive, so its
 * weighted fit reduces to ordinary least squares; that is what is computed here.
 */
export function localRegression(safety: number, fallback: Detector = threshold(0.7)): Detector {
  return {
    name: `LR-${safety}`,
    overloaded(s, h) {
      const hist = s.hostHistory(h);
      if (hist.length < lrPoints) return fallback.overloaded(s, h);
      const y = hist.slice(0, lrPoints).reverse();
      const [a, b] = linearFit(y);
      const host = s.hosts[h]!;
      const maxRam = Math.max(...s.guests[h]!.map((v) => s.vms[v]!.type.ramMb));
      const intervals = Math.ceil(migrationSeconds(maxRam, host.bwMbit) / sampleSeconds);
      return (a + b * (lrPoints + intervals)) * safety >= 1;
    },
  };
}
