import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostTypes, powerAt, vmTypes } from '../planner/model.js';
import { policies } from './policies.js';
import { simulate } from './simulate.js';
import type { TraceVm } from './traces.js';

const hosts = [hostTypes.g4, hostTypes.g5];
const vm = (util: number[]): TraceVm => ({ name: 'v', type: vmTypes[3]!, util: Float64Array.from(util) });
const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} is not ${b}`);

test('NPA: every host at full power, whatever runs', () => {
  const r = simulate(hosts, [vm([0.5, 0.5, 0.5])], policies.NPA!, 2);
  close(r.energyKwh, ((117 + 135) * 600) / 3.6e6);
  assert.equal(r.migrations, 0);
});

test('one VM: placed on the type whose power grows least, energy by the trapezoid between samples', () => {
  const r = simulate(hosts, [vm([0.5, 1, 1])], policies['THR-MMT-0.8']!, 2);
  const p = (u: number) => powerAt(hostTypes.g5, (u * 500) / 5320);
  close(r.energyKwh, (((p(0.5) + p(1)) / 2) * 300 + p(1) * 300) / 3.6e6);
  assert.equal(r.migrations, 0);
  assert.equal(r.slatah, 0);
});

test('as in CloudSim, a VM at 0 % is retired for good, and its host sleeps', () => {
  const r = simulate(hosts, [vm([0.5, 0, 1])], policies['THR-MMT-0.8']!, 2);
  const p = (u: number) => powerAt(hostTypes.g5, (u * 500) / 5320);
  close(r.energyKwh, (((p(0.5) + p(0)) / 2) * 300) / 3.6e6);
  const kept = simulate(hosts, [vm([0.5, 0, 1])], policies['THR-MMT-0.8']!, 2, { retireIdle: false });
  close(kept.energyKwh, (((p(0.5) + p(0)) / 2) * 300 + ((p(0) + p(1)) / 2) * 300) / 3.6e6);
});
