import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Guest } from '../api/guests.js';
import { changeLines, patchFrom, settingsOf } from './guest-settings.js';

const guest: Guest = {
  name: 'vm1',
  kind: 'vm',
  image: 'busybox',
  state: 'running',
  options: { accel: 'tcg' },
  limits: { cpu: 1, memory: '256M', disk: '1G' },
  restart: 'no',
  autonomic: 'on',
  priority: 'normal', autostart: false, autostartOrder: 0,
  createdAt: '2026-01-01T00:00:00.000Z',
  nics: [{ name: 'eth0', network: 'default', mac: '52:54:00:00:00:01', address: '10.0.3.2/24', hostDevice: 'lv1-1-0' }],
};
const before = settingsOf(guest);
const edit = (change: (s: Record<string, any>) => void) => {
  const s = structuredClone(before) as Record<string, any>;
  change(s);
  return s;
};

test('the settings are what a user reads and may edit', () => {
  assert.deepEqual(before, { name: 'vm1', kind: 'vm', image: 'busybox', options: { accel: 'tcg' }, networks: ['default'], limits: { cpu: 1, memory: '256M', disk: '1G' }, restart: 'no', autonomic: 'on', priority: 'normal', autostart: false, autostartOrder: 0 });
});

test('an edit becomes a PATCH of what changed; no change, no PATCH', () => {
  assert.equal(patchFrom(before, edit(() => {})), undefined);
  assert.deepEqual(
    patchFrom(before, edit((s) => {
      s.limits.cpu = 2;
      s.limits.processes = 100;
      s.restart = 'on-failure';
      s.priority = 'high';
      s.autostart = true;
      s.autostartOrder = 3;
    })),
    { limits: { cpu: 2, processes: 100 }, restart: 'on-failure', priority: 'high', autostart: true, autostartOrder: 3 },
  );
  assert.throws(() => patchFrom(before, edit((s) => (s.autostart = 'yes'))), /autostart: "yes" is not true or false; nothing was changed/);
  assert.throws(() => patchFrom(before, edit((s) => (s.autostartOrder = -1))), /autostartOrder: -1 is not a whole number from 0 to 1000; nothing was changed/);
  assert.throws(() => patchFrom(before, edit((s) => (s.priority = 'urgent'))), /priority: "urgent" is not low, normal, high; nothing was changed/);
});

test('a bad value or a field set at launch is refused with the field named', () => {
  const refused = (change: (s: Record<string, any>) => void, message: RegExp) => assert.throws(() => patchFrom(before, edit(change)), message);
  refused((s) => (s.limits.memory = 'lots'), /limits\.memory: "lots" is not a size.*nothing was changed/);
  refused((s) => (s.limits.cpu = -1), /limits\.cpu: "-1" is not a positive number of CPUs; nothing was changed/);
  refused((s) => delete s.limits.memory, /limits\.memory: a limit cannot be removed/);
  refused((s) => (s.limits.disk = '2G'), /limits\.disk: the disk size is set at launch/);
  refused((s) => (s.limits.colour = 1), /limits\.colour: is not a limit/);
  refused((s) => (s.kind = 'ct'), /kind: cannot change here: it is set at launch/);
  refused((s) => (s.name = 'vm2'), /name: cannot change here: it is changed by lodge rename/);
  refused((s) => (s.restart = 'sometimes'), /restart: "sometimes" is not no, on-failure, always/);
  refused((s) => (s.extra = true), /extra: is not a setting/);
  refused((s) => Object.assign(s, { toString: 1 }), /toString: is not a setting/);
  assert.throws(() => patchFrom(before, 'text'), /the settings: are not a mapping/);
});

test('a change the running engine takes later says at next start, with why', () => {
  const answer: Guest = { ...guest, atNextStart: [{ limit: 'cpu', why: 'it has 1 vCPU until then' }] };
  assert.deepEqual(changeLines({ limits: { cpu: 2, memory: '200M' }, restart: 'always' }, answer), ['cpu 2: at next start (it has 1 vCPU until then)', 'memory 200M: changed', 'restart always: changed']);
});
