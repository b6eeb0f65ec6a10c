import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Guest } from '../api/guests.js';
import { passes } from './guest-filter.js';

const guest = (name: string, kind: Guest['kind'], state: Guest['state'], image: string, network?: string): Guest => ({
  name, kind, state, image, options: {}, limits: {}, restart: 'no', autonomic: 'on', priority: 'normal', autostart: false, autostartOrder: 0, createdAt: '', ...(network ? { nics: [{ name: 'eth0', network, mac: '', address: '', hostDevice: '' }] } : {}),
});
const guests = [guest('web1', 'ct', 'running', 'busybox', 'default'), guest('web2', 'vm', 'stopped', 'debian/12'), guest('db1', 'pv', 'running', 'debian/12', 'back')];
const names = (filter: string) => guests.filter((g) => passes(g, filter)).map((g) => g.name);

test('each word must match: keyed words their field, bare words the name, image, kind or state', () => {
  assert.deepEqual(names(''), ['web1', 'web2', 'db1']);
  assert.deepEqual(names('web'), ['web1', 'web2']);
  assert.deepEqual(names('state:running'), ['web1', 'db1']);
  assert.deepEqual(names('kind:vm'), ['web2']);
  assert.deepEqual(names('image:debian running'), ['db1']);
  assert.deepEqual(names('network:def'), ['web1']);
  assert.deepEqual(names('Web1'), ['web1'], 'case does not matter');
  assert.deepEqual(names('kind:c'), [], 'a kind is matched whole');
  assert.deepEqual(names('nothing'), []);
});
