import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMeminfo, parseNetDev, parseProcStat } from './host-stats.js';

test('/proc/stat: the all-CPU line in seconds per mode (USER_HZ ticks)', () => {
  const text = 'cpu  2057527 0 789681 3588975 30786 0 8440 89840 14 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n';
  assert.deepEqual(parseProcStat(text), { user: 20575.27, nice: 0, system: 7896.81, idle: 35889.75, iowait: 307.86, irq: 0, softirq: 84.4, steal: 898.4 });
  assert.deepEqual(parseProcStat('intr 1 2\n'), {});
});

test('/proc/meminfo: kB fields in bytes, counts as they are', () => {
  assert.deepEqual(parseMeminfo('MemTotal:       24683860 kB\nMemAvailable:   23743504 kB\nHugePages_Total:       0\n'), { MemTotal: 24683860 * 1024, MemAvailable: 23743504 * 1024, HugePages_Total: 0 });
});

test('/proc/net/dev: bytes and packets each way per device, the two header lines skipped', () => {
  const text = [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo: 1369841    8268    0    0    0     0          0         0  1369841    8268    0    0    0     0       0          0',
    'lvab1x0:100 2 0 0 0 0 0 0 300 4 0 0 0 0 0 0',
    '',
  ].join('\n');
  const links = parseNetDev(text);
  assert.deepEqual([...links.keys()], ['lo', 'lvab1x0']);
  assert.deepEqual(links.get('lvab1x0'), { receiveBytes: 100, receivePackets: 2, transmitBytes: 300, transmitPackets: 4 });
});
