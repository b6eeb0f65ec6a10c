import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Guest } from '../api/guests.js';
import { defaultGuestColumns, parseGuestColumns } from './guest-columns.js';

const guest: Guest = {
  name: 'web1',
  kind: 'ct',
  image: 'busybox',
  state: 'running',
  options: {},
  limits: { memory: '256M' },
  restart: 'no',
  autonomic: 'on',
  priority: 'normal', autostart: false, autostartOrder: 0,
  createdAt: '2026-01-01T00:00:00.000Z',
  nics: [
    { name: 'eth0', network: 'default', mac: '52:54:00:00:00:01', address: '10.0.3.2/24', hostDevice: 'lv1-1-0' },
    { name: 'eth1', network: 'back', mac: '52:54:00:00:00:02', address: '10.0.4.9/24', hostDevice: 'lv1-1-1' },
  ],
};

const row = (spec: string) => parseGuestColumns(spec).map((c) => [c.header, c.cell(guest)]);

test('letters run together, as incus list -c takes them', () => {
  assert.deepEqual(row('n4N'), [
    ['NAME', 'web1'],
    ['IPV4', '10.0.3.2 (eth0), 10.0.4.9 (eth1)'],
    ['NETWORKS', 'default, back'],
  ]);
  assert.deepEqual(parseGuestColumns(defaultGuestColumns).map((c) => c.header), ['NAME', 'KIND', 'STATE', 'IMAGE', 'IPV4', 'LIMITS']);
});

test('names with commas, or one name alone', () => {
  assert.deepEqual(row('name,ipv4,limits'), [
    ['NAME', 'web1'],
    ['IPV4', '10.0.3.2 (eth0), 10.0.4.9 (eth1)'],
    ['LIMITS', 'mem 256M'],
  ]);
  assert.deepEqual(row('state'), [['STATE', 'running']]);
});

test('an unknown column is refused with the columns there are', () => {
  assert.throws(() => parseGuestColumns('nx'), /--columns: "x" is not a column \(n name, t kind/);
  assert.throws(() => parseGuestColumns('name,colour'), /"colour" is not a column/);
  assert.throws(() => parseGuestColumns('name,'), /names no column/);
});
