import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { maxBridgePorts } from '../network/nic.js';
import { Events } from './events.js';
import { NetworkService } from './networks.js';
import { Store } from './store.js';

test('a network whose bridge has no port left refuses another NIC, naming the network and what to do', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-networks-'));
  const store = new Store(path.join(dir, 'lodge.db'));
  try {
    // the plan reads the database only: rows stand for guests and NICs here, no bridge is made
    store.insertNetwork({ name: 'big', subnet: '10.200.0.0/20', nat: false, bridge: 'lb-big', createdAt: new Date().toISOString() });
    const networks = new NetworkService({ store, events: new Events(), dir, log: () => {} });
    const fill = (count: number) => {
      for (let i = 0; i < count; i++) {
        const g = store.insertGuest({ name: `g${store.guests().length}`, kind: 'ct', image: 'busybox', imageContent: 'v1', state: 'stopped', options: {}, limits: {} });
        store.insertNics(networks.plan([{ network: 'big' }]).map((n) => ({ ...n, guestId: g.id })));
      }
    };
    fill(maxBridgePorts - 1);
    // the last port, and two NICs in one request where only one fits
    assert.throws(() => networks.plan([{ network: 'big' }, { network: 'big' }]), { code: 'CONFLICT', message: /networks\[1\]: network big has 1023 NICs, the most its bridge takes .*lodge network create/ });
    fill(1);
    assert.throws(() => networks.plan([{ network: 'big' }]), { code: 'CONFLICT', message: /networks\[0\]: network big has 1023 NICs/ });
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
