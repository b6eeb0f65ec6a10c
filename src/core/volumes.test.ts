/**
 * Volumes of their own on a real dir pool (SQLite, mkfs.ext4): one whose making a killed
 * lodged did not finish is removed at the next start, rows and files; a whole one stays.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StorageService } from './storage.js';
import { Store } from './store.js';
import { VolumeService } from './volumes.js';

test('a volume whose disk was never made whole is swept at start; a made one stays', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-volumes-'));
  const store = new Store(path.join(dir, 'lodge.db'));
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const logs: string[] = [];
  const storage = new StorageService({ store, dir: path.join(dir, 'pools'), log: (m) => logs.push(m) });
  await storage.create({ name: 'default', driver: 'dir' });
  store.setMeta('default_pool', 'default');
  const volumes = new VolumeService({ store, storage });
  await volumes.create({ name: 'whole', size: '64M' });
  // as a lodged killed during mkfs leaves it: the row, its directory, a disk under its making name
  const half = store.insertVolume({ pool: 'default', key: 'custom/half', content: 'block', sizeBytes: 64 << 20 });
  const { dir: halfDir } = await storage.createVolume(half);
  writeFileSync(path.join(halfDir, 'disk.raw.making'), '');
  await storage.restore();
  assert.deepEqual(volumes.list().map((v) => v.name), ['whole']);
  assert.equal(existsSync(halfDir), false, 'its files went with its row');
  assert.ok(logs.includes('storage pool default: removing volume half: its making was interrupted'), logs.join('\n'));
});
