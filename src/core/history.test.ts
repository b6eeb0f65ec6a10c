import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LodgeError } from '../api/errors.js';
import type { HostStats } from '../host/host-stats.js';
import { Events } from './events.js';
import type { GuestObservation } from './guests.js';
import { HistoryService } from './history.js';
import type { MetricsReading } from './metrics.js';

const host = (busy: number, idle: number): HostStats => ({ cpuSeconds: { user: busy, idle, iowait: 1 }, cpus: 2, memory: { MemTotal: 1000, MemAvailable: 400 }, load: [0.5, 0.4, 0.3], pressure: {} });
const reading = (at: number, guests: Array<{ g: GuestObservation; rx?: number }>, busy = at): MetricsReading => ({
  at: at * 1000,
  host: host(busy, at * 2),
  pools: [{ name: 'default', totalBytes: 100, usedBytes: 30 }],
  guests: guests.map(({ g, rx }) => ({ g, nics: rx === undefined ? [] : [{ nic: 'eth0', c: { receiveBytes: 0, receivePackets: 0, transmitBytes: rx, transmitPackets: 0 } }] })),
});
const running = (name: string, cpuSeconds: number, memoryBytes: number): GuestObservation => ({ name, kind: 'ct', state: 'running', usage: { cpuSeconds, memoryBytes } });

function service() {
  const events = new Events();
  const known = new Set(['web1', 'db1']);
  const history = new HistoryService({
    metrics: { read: async () => assert.fail('not sampled in this test') },
    guests: { get: (name: string) => (known.has(name) ? ({} as never) : (() => { throw new LodgeError('NOT_FOUND', `guest ${name} not found`); })()) },
    events,
    log: () => {},
  });
  return { history, events, known };
}

test("each running guest's counters become rates, its gauges stay as read; the host's busy CPUs leave idle and iowait out", () => {
  const { history } = service();
  history.record(reading(100, [{ g: running('web1', 10, 500), rx: 1000 }, { g: { name: 'db1', kind: 'ct', state: 'stopped' } }]));
  history.record(reading(110, [{ g: running('web1', 15, 700), rx: 3000 }, { g: { name: 'db1', kind: 'ct', state: 'stopped' } }], 115));
  // the same reading served again (the metrics keep one for a second) adds nothing
  history.record(reading(110, [{ g: running('web1', 15, 700), rx: 3000 }], 115));
  const web1 = history.guest('web1');
  assert.deepEqual(web1.time, [100, 110]);
  assert.deepEqual(web1.cpu, [null, 0.5]);
  assert.deepEqual(web1.memoryBytes, [500, 700]);
  assert.deepEqual(web1.networkReceiveBytesPerSecond, [null, 200]);
  assert.deepEqual(web1.diskReadBytesPerSecond, [null, null], 'not read, not invented');
  assert.deepEqual(history.guest('db1').time, [], 'a stopped guest has no samples');
  const h = history.hostHistory();
  assert.deepEqual(h.cpu, [null, 1.5]);
  assert.deepEqual(h.memoryBytes, [600, 600]);
  assert.deepEqual(h.diskBytes, [30, 30]);
  assert.equal(h.cpus, 2);
  assert.deepEqual(h.guests, [{ name: 'web1', kind: 'ct', cpu: 0.5, memoryBytes: 700, diskBytesPerSecond: null, networkBytesPerSecond: 200 }]);
});

test("a deleted guest's history goes with it; a guest that stopped keeps its samples but leaves the dashboard's list; an unknown one is NOT_FOUND", () => {
  const { history, events, known } = service();
  history.start();
  try {
    history.record(reading(100, [{ g: running('web1', 1, 1) }, { g: running('db1', 1, 1) }]));
    history.record(reading(110, [{ g: running('web1', 2, 1) }, { g: { name: 'db1', kind: 'ct', state: 'stopped' } }]));
    assert.deepEqual(history.guest('db1').time, [100]);
    assert.deepEqual(history.hostHistory().guests.map((g) => g.name), ['web1']);
    events.emit('lifecycle', 'web1', 'deleted');
    known.delete('web1');
    known.add('web1-new');
    assert.throws(() => history.guest('web1'), { code: 'NOT_FOUND' });
    assert.deepEqual(history.guest('web1-new').time, []);
    // a guest gone from the reading (deleted while nobody listened) loses its ring too
    history.record(reading(120, []));
    assert.deepEqual(history.guest('db1').time, []);
  } finally {
    history.stop();
  }
});
