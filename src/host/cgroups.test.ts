import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIoStat, parseKeyedNumbers, parsePressure, parseProcIo, sameCpuWeight, sharesToWeight, weightToShares } from './cgroups.js';

test('io.stat: each field summed over the devices', () => {
  const text = '8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n254:0 rbytes=100 wbytes=0 rios=3 wios=0 dbytes=0 dios=0\n';
  assert.deepEqual(parseIoStat(text), { rbytes: 4196, wbytes: 8192, rios: 4, wios: 2, dbytes: 0, dios: 0 });
  assert.deepEqual(parseIoStat(''), {});
});

test('a PSI file: the some total, in seconds; a file without it says nothing', () => {
  assert.equal(parsePressure('some avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1000\n'), 2.5);
  assert.equal(parsePressure('full avg10=0.00 avg60=0.00 avg300=0.00 total=1000\n'), undefined);
});

test('/proc/PID/io: the bytes sent to and read from storage, not the bytes of read() and write()', () => {
  const text = 'rchar: 6976\nwchar: 10\nsyscr: 10\nsyscw: 1\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n';
  assert.deepEqual(parseProcIo(text), { readBytes: 4096, writtenBytes: 8192 });
  assert.equal(parseProcIo('rchar: 1\n'), undefined);
});

test('memory.stat, memory.events and memory.oom_control read as numbers by key', () => {
  assert.deepEqual(parseKeyedNumbers('oom_kill_disable 0\nunder_oom 0\noom_kill 2\n'), { oom_kill_disable: 0, under_oom: 0, oom_kill: 2 });
  assert.deepEqual(parseKeyedNumbers('cache 4096\ntotal_inactive_file 8192\nnot a line\n'), { cache: 4096, total_inactive_file: 8192 });
});

test("v2's cpu.weight from v1's cpu.shares as runc converts it, and back to the least shares of that weight", () => {
  assert.deepEqual([2, 256, 1024, 2048, 262_144].map(sharesToWeight), [1, 10, 39, 79, 10_000]);
  for (let w = 1; w <= 10_000; w += 7) assert.equal(sharesToWeight(weightToShares(w)), w);
  // on v2 many shares are one weight; on v1 each is its own
  assert.equal(sameCpuWeight('v2', 1024, weightToShares(39)), true);
  assert.equal(sameCpuWeight('v1', 1024, 1000), false);
  assert.equal(sameCpuWeight('v2', 1024, 256), false);
});
