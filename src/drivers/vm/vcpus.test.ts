import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CpuSlot, planVcpus } from './vcpus.js';

const slot = (socket: number, qomPath?: string): CpuSlot => ({ type: 'max-x86_64-cpu', props: { 'socket-id': socket, 'core-id': 0, 'thread-id': 0 }, ...(qomPath ? { 'qom-path': qomPath } : {}) });
// two booted with, one plugged by Lodge, one free
const slots = [slot(3), slot(2, '/machine/peripheral/vcpu-socket2-core0-thread0'), slot(1, '/machine/unattached/device[1]'), slot(0, '/machine/unattached/device[0]')];

test('more vCPUs fill free slots; past them, the rest waits for the next start', () => {
  assert.deepEqual(planVcpus(slots, 3, 4), { plug: [slots[0]], unplug: [] });
  assert.deepEqual(planVcpus(slots, 3, 6), { plug: [slots[0]], unplug: [], later: 'its machine has room for 4 vCPUs until then; it has 4 now' });
});

test('fewer vCPUs unplug the plugged ones only: those it booted with stay until the next start, and under TCG all of them', () => {
  assert.deepEqual(planVcpus(slots, 3, 2), { plug: [], unplug: [slots[1]] });
  assert.deepEqual(planVcpus(slots, 3, 1), { plug: [], unplug: [slots[1]], later: 'it keeps the 2 vCPUs it booted with until then' });
  assert.deepEqual(planVcpus(slots, 3, 2, false), { plug: [], unplug: [], later: 'it keeps its 3 vCPUs until then (under TCG a vCPU unplugged could not be plugged in again)' });
});
