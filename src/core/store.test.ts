/**
 * The store's migrations on a real SQLite file: a database of the version before guests'
 * launch options became one object opens with each guest's options carried over.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrations, Store } from './store.js';

test("a ct guest's privileged column and a vm guest's options column become their launch options", (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'lodge.db');
  const before = migrations.findIndex((m) => m.includes('ADD COLUMN options'));
  const db = new Database(file);
  for (let v = 0; v < before; v++) db.exec(migrations[v]!);
  db.pragma(`user_version = ${before}`);
  const insert = db.prepare("INSERT INTO guests (name, kind, image, state, privileged, limits, vm, created_at) VALUES (?, ?, 'busybox', 'stopped', ?, '{}', ?, '2026-01-01T00:00:00Z')");
  insert.run('c1', 'ct', 1, null);
  insert.run('c2', 'ct', 0, null);
  insert.run('v1', 'vm', 0, JSON.stringify({ accel: 'tcg', profile: 'legacy' }));
  db.close();
  const store = new Store(file);
  t.after(() => store.close());
  assert.deepEqual(
    store.guests().map((g) => [g.name, g.options]),
    [
      ['c1', { privileged: true }],
      ['c2', {}],
      ['v1', { accel: 'tcg', profile: 'legacy' }],
    ],
  );
  const columns = (store.db.prepare('PRAGMA table_info(guests)').all() as Array<{ name: string }>).map((c) => c.name);
  assert.ok(!columns.includes('privileged') && !columns.includes('vm'), 'the old columns are gone');
});
