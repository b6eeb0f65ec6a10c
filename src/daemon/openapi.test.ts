/**
 * The API is a contract: docs/openapi.json is generated from the route schemas, and
 * this fails when the two drift apart. `UPDATE_OPENAPI=1` rewrites the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackupService } from '../core/backups.js';
import { Events } from '../core/events.js';
import { AutonomicService } from '../core/autonomic.js';
import { GuestService } from '../core/guests.js';
import { ImageService } from '../core/images.js';
import { LodgedMetrics } from '../core/lodged-metrics.js';
import { MetricsService } from '../core/metrics.js';
import { HistoryService } from '../core/history.js';
import { NetworkService } from '../core/networks.js';
import { Operations } from '../core/operations.js';
import { ScheduleService } from '../core/schedules.js';
import { SnapshotService } from '../core/snapshots.js';
import { Store } from '../core/store.js';
import { StorageService } from '../core/storage.js';
import { TokenService } from '../core/tokens.js';
import { UserService } from '../core/users.js';
import { VolumeService } from '../core/volumes.js';
import { DriverRegistry } from '../drivers/registry.js';
import { ImageFiles } from '../images/store.js';
import { buildServer } from './server.js';

const docFile = fileURLToPath(new URL('../../../docs/openapi.json', import.meta.url));

test('docs/openapi.json matches the API the daemon serves', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-openapi-'));
  const store = new Store(path.join(dir, 'lodge.db'));
  try {
    const events = new Events();
    const operations = new Operations(store, events);
    const files = new ImageFiles(path.join(dir, 'images'));
    const log = () => {};
    const networks = new NetworkService({ store, events, dir, log });
    const images = new ImageService({ store, files, operations, events, kernelCacheDir: dir, busybox: '/bin/busybox', unpackHelper: '' });
    const storage = new StorageService({ store, dir, log });
    const volumes = new VolumeService({ store, storage });
    const guests = new GuestService({ store, drivers: new DriverRegistry(), images, operations, events, networks, storage, volumes, guestsDir: dir, hostMemoryBytes: os.totalmem(), log });
    const drivers = new DriverRegistry();
    const snapshots = new SnapshotService({ store, guests, storage, drivers, operations, events, log });
    const backups = new BackupService({ store, guests, storage, operations, events, keysDir: dir, stateDir: dir, images, readerHelper: '', log });
    const schedules = new ScheduleService({ store, snapshots, backups, operations, log });
    const users = new UserService({ store, log });
    const tokens = new TokenService({ store, users, log });
    const lodgedMetrics = new LodgedMetrics();
    const metrics = new MetricsService({ guests, storage, events, lodged: lodgedMetrics });
    const history = new HistoryService({ metrics, guests, events, log });
    const autonomic = new AutonomicService({ store, guests, operations, events, log });
    const app = await buildServer({ guests, autonomic, images, networks, storage, snapshots, backups, schedules, volumes, users, tokens, operations, events, metrics, history, lodgedMetrics, tmpDir: dir, log, hostInfo: () => ({ apiVersion: '1.0', version: '0', instance: 'x', cgroups: 'v1', drivers: [] }) });
    const served = (await app.inject({ method: 'GET', url: '/1.0/openapi.json' })).json() as { paths: Record<string, unknown> };
    await app.close();
    const text = `${JSON.stringify(served, null, 2)}\n`;
    if (process.env.UPDATE_OPENAPI) writeFileSync(docFile, text);
    assert.ok(Object.keys(served.paths).includes('/1.0/guests/{name}/state'));
    assert.equal(text, readFileSync(docFile, 'utf8'), 'docs/openapi.json is stale: run UPDATE_OPENAPI=1 node --test dist/src/daemon/openapi.test.js');
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
