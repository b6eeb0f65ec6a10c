import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostTypes, vmTypes } from '../planner/model.js';
import { consolidate, minimumMigrationTime } from './baseline.js';
import { threshold } from './detectors.js';
import { Scratch } from './scratch.js';

/** G5 hosts; VMs as [host, type index, utilisation now]. */
function cluster(hosts: number, vms: [number, number, number][]): Scratch {
  const s = new Scratch(
    Array.from({ length: hosts }, () => hostTypes.g5),
    vms.map(([, t, u]) => ({ type: vmTypes[t]!, util: Float64Array.of(u) })),
    0,
    Float64Array.from(vms, ([, t, u]) => vmTypes[t]!.mips * u),
  );
  vms.forEach(([h], v) => s.add(h, v));
  return s;
}

test('MMT picks the VM with the least RAM, the first of equals', () => {
  const s = cluster(1, [[0, 1, 0.1], [0, 0, 0.1], [0, 3, 0.1], [0, 3, 0.1]]);
  assert.equal(minimumMigrationTime(s, 0), 2);
});

test('an overloaded host sheds VMs by MMT until it is not; PABFD takes the least power increase, reckoned as CloudSim does', () => {
  // host 0: 2500 + 2000 = 4500 MIPS > 0.8 × 5320; host 1: 100 MIPS; host 2 asleep
  const s = cluster(3, [[0, 0, 1], [0, 1, 1], [1, 3, 0.2]]);
  // VM 0 (870 MB) leaves before VM 1 (1740 MB). Waking host 2 costs P(0.47) - P(0) = 20.5 W,
  // host 1 would cost P(0.489) - P(0.019) = 21.0 W. Host 1 is then the least loaded, but its
  // VM could only go to sleeping hosts, which consolidation never wakes.
  assert.deepEqual(consolidate(s, threshold(0.8)), [{ vm: 0, to: 2 }]);
});

test('the least loaded host is emptied into active hosts when all its VMs fit', () => {
  const s = cluster(3, [[0, 1, 0.8], [1, 3, 1]]);
  assert.deepEqual(consolidate(s, threshold(0.8)), [{ vm: 1, to: 0 }]);
});

test('a host is not emptied unless every one of its VMs finds a place', () => {
  // host 1 (0.19) cannot send its 500-MIPS VMs to host 0 (0.75) without passing 0.8
  const s = cluster(3, [[0, 1, 1], [0, 1, 1], [1, 0, 0.2], [1, 3, 1]]);
  assert.deepEqual(consolidate(s, threshold(0.8)), []);
});
