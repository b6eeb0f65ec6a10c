import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { availableBytes, bootedMemoryBytes, memConfigChange, readUnplugged, writeUnplugged } from './memory-unplug.js';

test("MemAvailable is read from a guest's /proc/meminfo, in bytes", () => {
  assert.equal(availableBytes('MemTotal:         242484 kB\nMemFree:          223880 kB\nMemAvailable:     222600 kB\n'), 222600 * 1024);
  assert.equal(availableBytes('MemTotal: 1 kB\n'), undefined);
  assert.equal(availableBytes('MemAvailable: lots kB\n'), undefined);
});

test('the change to ask of the mconsole: unplug more (-), plug back (+), in whole MiB, or none', () => {
  const M = 1024 * 1024;
  assert.equal(memConfigChange(0, 64 * M), '-64M');
  assert.equal(memConfigChange(64 * M, 32 * M), '+32M');
  assert.equal(memConfigChange(64 * M, 64 * M), undefined);
  assert.equal(memConfigChange(0, 100 * 1024), undefined, 'under half a MiB is no change');
});

test('what an engine holds unplugged is its own: another engine (a new start) holds none', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-unplug-'));
  try {
    const file = path.join(dir, 'memory-unplugged.json');
    assert.equal(readUnplugged(file, 42), 0);
    writeUnplugged(file, 42, 64 << 20);
    assert.equal(readUnplugged(file, 42), 64 << 20);
    assert.equal(readUnplugged(file, 43), 0);
    writeFileSync(file, '{"pid":42,"bytes":-5}');
    assert.equal(readUnplugged(file, 42), 0, 'a bad record counts for nothing');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the memory a UML booted with is its mem= argument; a process without one, or none, has none", () => {
  assert.equal(bootedMemoryBytes(process.pid), undefined);
  assert.equal(bootedMemoryBytes(2 ** 30), undefined);
});
