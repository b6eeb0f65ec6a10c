import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KsmWants, readKsm, setKsmRun } from './ksm.js';

test('KSM is read from its sysfs files, and a host without them has none', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-ksm-'));
  try {
    assert.equal(readKsm(dir), undefined);
    writeFileSync(path.join(dir, 'run'), '0\n');
    writeFileSync(path.join(dir, 'pages_sharing'), '256\n');
    assert.deepEqual(readKsm(dir), { run: 0, savedBytes: 1024 * 1024 });
    setKsmRun(1, dir);
    assert.equal(readFileSync(path.join(dir, 'run'), 'utf8'), '1\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("each lodged's want is its own; a dead lodged's want goes; the marker says a lodged started ksmd", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-ksm-wants-'));
  try {
    const a = new KsmWants('/var/lib/a', dir);
    const b = new KsmWants('/var/lib/b', dir);
    assert.equal(a.othersWant(), false);
    b.want(true);
    assert.equal(a.othersWant(), true);
    assert.equal(b.othersWant(), false, 'its own want is not another\'s');
    b.want(false);
    assert.equal(a.othersWant(), false);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'lodged-deadbeefdeadbeef'), '2147483646\n');
    assert.equal(a.othersWant(), false, 'no such process');
    assert.throws(() => readFileSync(path.join(dir, 'lodged-deadbeefdeadbeef')), /ENOENT/);
    assert.equal(a.startedByLodge, false);
    a.startedByLodge = true;
    assert.equal(b.startedByLodge, true, 'the host has one ksmd: any lodged sees the marker');
    b.startedByLodge = false;
    assert.equal(a.startedByLodge, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
