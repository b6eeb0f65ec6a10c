/**
 * @module A lodged's core for unit tests: GuestService over fake drivers and everything else
 * real (the store in a temporary directory, a dir pool, operations, events, networks without
 * any), removed when the test ends.
 */
import type { TestContext } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Operation } from '../api/operations.js';
import { DriverRegistry } from '../drivers/registry.js';
import { ImageFiles } from '../images/store.js';
import { ImageService } from './images.js';
import { Events } from './events.js';
import type { FakeDriver } from './fake-driver.test-support.js';
import { GuestService, type GuestServiceDeps } from './guests.js';
import { NetworkService } from './networks.js';
import { Operations } from './operations.js';
import { StorageService, type RootVolume } from './storage.js';
import { Store, type VolumeRecord } from './store.js';
import { VolumeService } from './volumes.js';

/** The real storage layer, which a test can make fail once it made a volume's directory (a pool that filled up half-way). */
export class FailingStorage extends StorageService {
  failNextVolume: Error | undefined;

  override async createVolume(v: VolumeRecord): Promise<RootVolume> {
    const made = await super.createVolume(v);
    const error = this.failNextVolume;
    this.failNextVolume = undefined;
    if (error) throw error;
    return made;
  }
}

export interface Harness {
  store: Store;
  storage: FailingStorage;
  operations: Operations;
  guests: GuestService;
  deps: GuestServiceDeps;
  /** Where the default pool keeps guests' root volumes. */
  poolGuests: string;
  guestsDir: string;
  logs: string[];
}

/** A lodged's core in a temporary directory, removed when the test ends; the fakes are its drivers. */
export async function setup(t: TestContext, drivers: FakeDriver[]): Promise<Harness> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-guests-'));
  const store = new Store(path.join(dir, 'lodge.db'));
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const logs: string[] = [];
  const log = (m: string) => logs.push(m);
  const events = new Events();
  const operations = new Operations(store, events);
  const networks = new NetworkService({ store, events, dir, log });
  const storage = new FailingStorage({ store, dir: path.join(dir, 'pools'), log });
  // as ensureDefault does on a host without btrfs
  await storage.create({ name: 'default', driver: 'dir' });
  store.setMeta('default_pool', 'default');
  const volumes = new VolumeService({ store, storage });
  const registry = new DriverRegistry();
  for (const d of drivers) await registry.add(d);
  store.upsertImage({ name: 'base', format: 'rootfs', init: '/sbin/init', stopSignal: 'SIGTERM', sizeBytes: 0, source: 'test', content: 'v1', createdAt: new Date().toISOString() });
  const guestsDir = path.join(dir, 'guests');
  const deps: GuestServiceDeps = {
    store,
    drivers: registry,
    images: new ImageService({ store, files: new ImageFiles(path.join(dir, 'images')), operations, events, kernelCacheDir: dir, busybox: '/bin/busybox', unpackHelper: '' }),
    operations,
    events,
    networks,
    storage,
    volumes,
    guestsDir,
    hostMemoryBytes: os.totalmem(),
    log,
  };
  return { store, storage, operations, guests: new GuestService(deps), deps, poolGuests: path.join(dir, 'pools', 'default', 'guests'), guestsDir, logs };
}

export const settled = (h: Harness, op: Operation) => h.operations.wait(op.id, 5000);

export async function launch(h: Harness, name: string, kind: 'ct' | 'pv' | 'vm' = 'vm'): Promise<Operation> {
  return settled(h, h.guests.launch({ name, image: 'base', kind, networks: [] }));
}
