import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostTypes, vmTypes } from '../planner/model.js';
import { lodgeMoves } from './lodge.js';
import type { TraceVm } from './traces.js';

const g5 = hostTypes.g5;
/** A VM of the 2000-MIPS, 1740-MB type with this utilisation per sample. */
const vm = (...util: number[]): TraceVm => ({ name: 'v', type: vmTypes[1]!, util: Float64Array.from(util) });

test('the planner gets each VM from its host with its history in MIPS, and its moves come back by VM index', () => {
  // host 2 holds VM 3 at 10 % (200 MIPS): quiet for two samples, it is emptied onto host 0
  const vms = [vm(0.5, 0.5), vm(0.5, 0.5), vm(0.5, 0.5), vm(0.1, 0.1)];
  const moves = lodgeMoves([g5, g5, g5, g5], vms, [[0, 1, 2], [], [3], []], 1, {});
  assert.deepEqual(moves, [{ vm: 3, to: 0 }]);
});

test('as in CloudSim, running VMs take no memory: a host of 4 GB may hold three 1740-MB VMs', () => {
  // at sample 0, VM 3 sits alone and quiet; host 0 has the CPU but not the RAM for a third
  const vms = [vm(0.5), vm(0.5), vm(0.1)];
  assert.deepEqual(lodgeMoves([g5, g5], vms, [[0, 1], [2]], 0, {}), [{ vm: 2, to: 0 }]);
});
