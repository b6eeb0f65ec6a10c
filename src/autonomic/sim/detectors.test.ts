import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostTypes, vmTypes } from '../planner/model.js';
import { linearFit, localRegression, threshold, tricubeWeights } from './detectors.js';
import { Scratch } from './scratch.js';

/** One G5 host holding VMs of the 2500-MIPS type with the given utilisation per sample, decided at `sample`. */
function host(utils: number[][], sample: number): Scratch {
  const vms = utils.map((u) => ({ type: vmTypes[0]!, util: Float64Array.from(u) }));
  const s = new Scratch([hostTypes.g5], vms, sample, Float64Array.from(vms, (vm) => vm.util[sample]! * vm.type.mips));
  vms.forEach((_, v) => s.add(0, v));
  return s;
}

test('a least-squares fit recovers a line over x = 1..n, weighted or not', () => {
  for (const w of [undefined, tricubeWeights(4)]) {
    const [a, b] = linearFit([5, 8, 11, 14], w);
    assert.ok(Math.abs(a - 2) < 1e-12 && Math.abs(b - 3) < 1e-12);
  }
});

test("LR's tricube weights are CloudSim's 1/k taken as standard deviations: k², the newest 1, the three oldest alike", () => {
  const w = tricubeWeights(10);
  const k = (i: number) => (1 - ((9 - i) / 9) ** 3) ** 3;
  assert.equal(w[9], 1);
  assert.ok(Math.abs(w[5]! - k(5) ** 2) < 1e-15);
  assert.deepEqual([w[0], w[1]], [w[2], w[2]]);
  assert.ok(w.every((x, i) => i < 3 || x > w[i - 1]!), 'newer samples weigh more');
  // a load that sat flat and jumped at the end: the weighted fit follows the jump, least squares hardly
  const y = [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.5, 0.7];
  assert.ok(linearFit(y, w)[1] > 2 * linearFit(y)[1]);
});

test('THR: overloaded strictly above the threshold of requested CPU now', () => {
  // 2 × 2500 × 0.8512 = 4256 MIPS = 0.8 of 5320
  assert.equal(threshold(0.8).overloaded(host([[0.8512], [0.8512]], 0), 0), false);
  assert.equal(threshold(0.8).overloaded(host([[0.86], [0.86]], 0), 0), true);
});

test('LR judges the trend of the last 10 samples, not the moment', () => {
  // host load over samples 1..10 (10 is now): 0.15, 0.22, ..., 0.78; two 2500-MIPS VMs on 5320 MIPS
  const load = (j: number) => 0.15 + 0.07 * (j - 1);
  const rising = Array.from({ length: 11 }, (_, j) => (load(Math.max(1, j)) * 5320) / 5000);
  const flat = Array.from({ length: 11 }, () => 0.5);
  const lr = localRegression(1.2);
  // now 0.78 <= 0.8, but the fit projected one interval ahead gives 0.85, × 1.2 >= 1
  assert.equal(threshold(0.8).overloaded(host([rising, rising], 10), 0), false);
  assert.equal(lr.overloaded(host([rising, rising], 10), 0), true);
  assert.equal(lr.overloaded(host([flat, flat], 10), 0), false);
});

test('LR: with fewer than 10 samples of history it falls back to a 0.7 threshold', () => {
  const u = Array.from({ length: 11 }, () => 0.76); // 3800 / 5320 = 0.714
  // at sample 8 the history holds samples 0..8; from sample 9 it holds 10
  assert.equal(localRegression(1.2).overloaded(host([u, u], 8), 0), true);
  assert.equal(localRegression(1.2).overloaded(host([u, u], 9), 0), false);
});
