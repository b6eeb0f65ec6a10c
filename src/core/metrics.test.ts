import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Machine } from '../api/guests.js';
import { formatMetrics } from '../lib/prometheus-text.js';
import type { GuestObservation } from './guests.js';
import { Events } from './events.js';
import { LodgedMetrics } from './lodged-metrics.js';
import { MetricsService } from './metrics.js';

const machine = (vcpuSeconds: number): Machine => ({
  accel: 'tcg',
  accelReason: '',
  cpuModel: 'max',
  memoryBytes: 256 << 20,
  profile: 'virtio',
  boot: 'kernel',
  stats: { vcpuSeconds, balloonBytes: 128 << 20, diskReadBytes: 4096, diskWrittenBytes: 512, diskReads: 2, diskWrites: 1 },
});

/** Guests as GuestService would observe them; the NICs' host end is `lo`, which /proc/net/dev always has. */
function service(guests: () => GuestObservation[], events = new Events()) {
  return new MetricsService({ guests: { observeAll: async () => guests() }, storage: { list: async () => [] }, events, lodged: new LodgedMetrics() });
}

const line = (text: string, series: string) => text.split('\n').find((l) => l.startsWith(`${series} `));

test('a guest: its cgroup counters labelled {name,kind}, its NIC in its own direction, a stopped one only as down', async () => {
  const text = formatMetrics(
    await service(() => [
      { name: 'web1', kind: 'ct', state: 'running', usage: { cpuSeconds: 1.5, memoryBytes: 1000, processes: 3, diskReadBytes: 10 }, nics: [{ name: 'eth0', hostDevice: 'lo' }] },
      { name: 'db "2"', kind: 'pv', state: 'stopped' },
    ]).families(),
  );
  assert.equal(line(text, 'lodge_guest_up{name="web1",kind="ct"}'), 'lodge_guest_up{name="web1",kind="ct"} 1');
  assert.ok(line(text, 'lodge_guest_up{name="db \\"2\\"",kind="pv"}')?.endsWith(' 0'));
  assert.ok(line(text, 'lodge_guest_cpu_seconds_total{name="web1",kind="ct"}')?.endsWith(' 1.5'));
  assert.ok(line(text, 'lodge_guest_disk_read_bytes_total{name="web1",kind="ct"}')?.endsWith(' 10'));
  assert.equal(line(text, 'lodge_guest_memory_limit_bytes{name="web1",kind="ct"}'), undefined, 'no limit, no series');
  assert.ok(line(text, 'lodge_guest_network_receive_bytes_total{name="web1",kind="ct",nic="eth0"}'));
  assert.doesNotMatch(text, /lodge_guest_cpu_seconds_total\{name="db/);
  assert.ok(line(text, 'lodge_guests{kind="pv",state="stopped"}')?.endsWith(' 1'));
  assert.ok(line(text, 'lodge_guests{kind="vm",state="running"}')?.endsWith(' 0'));
});

test("a vm's disks are QEMU's counts, and its QMP counters are asked again only after 5 s", async () => {
  let asked = 0;
  const vm = (): GuestObservation => ({ name: 'v1', kind: 'vm', state: 'running', usage: { cpuSeconds: 2, diskReadBytes: 99 }, machine: async () => machine(++asked) });
  const metrics = service(() => [vm()]);
  const first = formatMetrics(await metrics.families());
  const second = formatMetrics(await metrics.families());
  assert.equal(asked, 1);
  for (const text of [first, second]) {
    assert.ok(line(text, 'lodge_guest_vcpu_seconds_total{name="v1",kind="vm"}')?.endsWith(' 1'));
    assert.ok(line(text, 'lodge_guest_disk_read_bytes_total{name="v1",kind="vm"}')?.endsWith(' 4096'), "QEMU's, not the cgroup's");
    assert.ok(line(text, 'lodge_guest_disk_reads_total{name="v1",kind="vm"}')?.endsWith(' 2'));
    assert.ok(line(text, 'lodge_guest_balloon_bytes{name="v1",kind="vm"}')?.endsWith(` ${128 << 20}`));
  }
});

test('a vm whose QEMU does not answer gives its cgroup figures and no QMP ones', async () => {
  const text = formatMetrics(
    await service(() => [{ name: 'v1', kind: 'vm', state: 'running', usage: { cpuSeconds: 2, diskReadBytes: 99 }, machine: () => Promise.reject(new Error('QMP timed out')) }]).families(),
  );
  assert.ok(line(text, 'lodge_guest_cpu_seconds_total{name="v1",kind="vm"}')?.endsWith(' 2'));
  assert.ok(line(text, 'lodge_guest_disk_read_bytes_total{name="v1",kind="vm"}')?.endsWith(' 99'));
  assert.doesNotMatch(text, /lodge_guest_vcpu_seconds_total/);
});

test("a reading is served again within its second, but not after a guest's lifecycle event: a guest that started shows up at once", async () => {
  const events = new Events();
  let state: GuestObservation['state'] = 'stopped';
  let reads = 0;
  const metrics = service(() => (reads++, [{ name: 'p1', kind: 'pv', state, ...(state === 'running' ? { usage: { cpuSeconds: 1 } } : {}) }]), events);
  const up = async () => line(formatMetrics(await metrics.families()), 'lodge_guest_up{name="p1",kind="pv"}');
  assert.equal(await up(), 'lodge_guest_up{name="p1",kind="pv"} 0');
  state = 'running';
  assert.equal(await up(), 'lodge_guest_up{name="p1",kind="pv"} 0', 'the same reading, within its second');
  assert.equal(reads, 1);
  events.emit('lifecycle', 'p1', 'running');
  assert.equal(await up(), 'lodge_guest_up{name="p1",kind="pv"} 1');
  assert.equal(reads, 2);
});
