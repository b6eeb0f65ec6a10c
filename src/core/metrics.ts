/**
 * @module GET /1.0/metrics: every guest's, the host's and lodged's own figures as Prometheus
 * metric families. A guest's come from the one usage reader of its driver (its cgroup's
 * files) and the host ends of its NICs (one read of /proc/net/dev); a vm's vCPU time,
 * balloon and disk requests from its QEMU over QMP, kept a few seconds, as that is a round
 * trip per guest. Nothing here runs a program. Pressure (PSI) per guest exists only on a
 * cgroup v2 host: on v1 there is no such file, and no series is given rather than a zero.
 */
import { guestKinds } from '../api/common.js';
import { guestStates, type Machine } from '../api/guests.js';
import { readHostStats, readLinkCounters, type HostStats, type LinkCounters } from '../host/host-stats.js';
import { Inflight } from '../lib/inflight.js';
import type { Labels, MetricFamily, Sample } from '../lib/prometheus-text.js';
import type { Events } from './events.js';
import type { GuestObservation, GuestService } from './guests.js';
import type { LodgedMetrics } from './lodged-metrics.js';
import type { StorageService } from './storage.js';

/** How long a vm's QMP counters are reused: a scrape every second asks each QEMU at most this often. */
const machineTtlMs = 5000;
/** How long a reading of the guests, the host and the pools is served again. */
const readingTtlMs = 1000;

type MachineStats = NonNullable<Machine['stats']>;

export interface MetricsDeps {
  guests: Pick<GuestService, 'observeAll'>;
  /** A guest's lifecycle event makes the last reading stale: it is read again rather than served. */
  events: Pick<Events, 'subscribe'>;
  storage: Pick<StorageService, 'list'>;
  lodged: LodgedMetrics;
}

/** One guest as read: its observation, its vm counters (QMP) and its NICs' counters at their host end. */
export interface GuestReading {
  g: GuestObservation;
  machine?: MachineStats;
  nics: Array<{ nic: string; c: LinkCounters }>;
}

/** One reading of every guest, the host and the pools: what the metrics and the history are made of. */
export interface MetricsReading {
  /** When it was read (milliseconds since the epoch). */
  at: number;
  guests: GuestReading[];
  host: HostStats;
  pools: ReadonlyArray<{ name: string; totalBytes: number; usedBytes: number }>;
}

export class MetricsService {
  private readonly deps: MetricsDeps;
  private readonly machines = new Map<string, { at: number; stats: Promise<MachineStats | undefined> }>();
  /** Callers that arrive together (two Prometheus replicas, the history's sampler) share one reading of every guest. */
  private readonly reading = new Inflight<MetricsReading>();
  /** The last reading, served again for readingTtlMs: a client that scrapes in a loop costs lodged one reading a second. */
  private last: { at: number; reading: MetricsReading } | undefined;
  /** Counts lifecycle events: a reading begun before one is not served again after it. */
  private generation = 0;

  constructor(deps: MetricsDeps) {
    this.deps = deps;
    // a guest that started or stopped shows so at the next scrape, even within the second a reading is kept
    deps.events.subscribe((e) => {
      if (e.type !== 'lifecycle') return;
      this.generation++;
      this.last = undefined;
    });
  }

  /** A vm's counters as last asked (at most machineTtlMs ago); a QEMU that does not answer gives none. */
  private machineStats(g: GuestObservation): Promise<MachineStats | undefined> {
    const now = performance.now();
    const cached = this.machines.get(g.name);
    if (cached && now - cached.at < machineTtlMs) return cached.stats;
    const stats = g.machine!().then((m) => m?.stats, () => undefined);
    this.machines.set(g.name, { at: now, stats });
    return stats;
  }

  /** Every family: lodged's own counters as they are now, the rest as last read (at most readingTtlMs ago). */
  async families(): Promise<MetricFamily[]> {
    const r = await this.read();
    return [...guestFamilies(r.guests), ...hostFamilies(r.host, r.pools), ...guestCounts(r.guests.map(({ g }) => g)), ...this.deps.lodged.families()];
  }

  /** The guests, the host and the pools as last read (at most readingTtlMs ago). */
  read(): Promise<MetricsReading> {
    // by generation: a reading begun before a lifecycle event is not shared with a caller that came after it
    return this.reading.run(String(this.generation), async () => {
      if (this.last && performance.now() - this.last.at < readingTtlMs) return this.last.reading;
      const generation = this.generation;
      const reading = await this.readNow();
      if (generation === this.generation) this.last = { at: performance.now(), reading };
      return reading;
    });
  }

  private async readNow(): Promise<MetricsReading> {
    const [observed, links, host, pools] = await Promise.all([this.deps.guests.observeAll(), readLinkCounters(), readHostStats(), this.deps.storage.list()]);
    const names = new Set(observed.map((g) => g.name));
    for (const name of this.machines.keys()) if (!names.has(name)) this.machines.delete(name);
    const machines = await Promise.all(observed.map((g) => (g.machine ? this.machineStats(g) : undefined)));
    const guests = observed.map((g, i): GuestReading => ({
      g,
      ...(machines[i] ? { machine: machines[i] } : {}),
      nics: (g.nics ?? []).flatMap((n) => {
        const c = links.get(n.hostDevice);
        return c ? [{ nic: n.name, c }] : [];
      }),
    }));
    return { at: Date.now(), guests, host, pools };
  }
}

/** A guest's disk counter: a vm's disks as QEMU counts them (what the guest asked); other kinds' as the kernel counts their processes' storage I/O. */
export function guestDisk(r: GuestReading, field: 'diskReadBytes' | 'diskWrittenBytes' | 'diskReads' | 'diskWrites'): number | undefined {
  return r.machine?.[field] ?? r.g.usage?.[field];
}

/** Samples of the guests that have a value, labelled {name,kind} and any more labels. */
function per<T>(items: ReadonlyArray<{ g: GuestObservation; x: T }>, value: (x: T, g: GuestObservation) => number | undefined, more: (x: T) => Labels = () => ({})): Sample[] {
  return items.flatMap(({ g, x }) => {
    const v = value(x, g);
    return v === undefined ? [] : [{ labels: { name: g.name, kind: g.kind, ...more(x) }, value: v }];
  });
}

function guestFamilies(read: readonly GuestReading[]): MetricFamily[] {
  const all = read.map((r) => ({ g: r.g, x: { usage: r.g.usage ?? {}, machine: r.machine, r } }));
  const live = all.filter(({ g }) => g.usage !== undefined);
  const disk = (field: 'diskReadBytes' | 'diskWrittenBytes' | 'diskReads' | 'diskWrites') => (x: (typeof all)[number]['x']) => guestDisk(x.r, field);
  // the host end of a NIC receives what the guest transmits
  const nics = live.flatMap(({ g, x }) => x.r.nics.map((n) => ({ g, x: n })));
  const nic = (x: { nic: string }) => ({ nic: x.nic });
  const pressure = (resource: 'cpu' | 'memory' | 'io') =>
    per(live, (x) => x.usage.pressure?.[`${resource}Seconds`], () => ({ resource }));
  return [
    { name: 'lodge_guest_up', help: 'Whether the guest is running (1) or not (0: stopped, paused, being created, or in error).', type: 'gauge', samples: per(all, (_x, g) => (g.state === 'running' ? 1 : 0)) },
    { name: 'lodge_guest_cpu_seconds_total', help: "CPU time used by the guest's cgroup (its engine and everything it runs), in seconds.", type: 'counter', samples: per(live, (x) => x.usage.cpuSeconds) },
    { name: 'lodge_guest_memory_used_bytes', help: "Memory charged to the guest's cgroup (page cache included).", type: 'gauge', samples: per(live, (x) => x.usage.memoryBytes) },
    { name: 'lodge_guest_memory_limit_bytes', help: "The memory limit of the guest's cgroup; absent when it has none.", type: 'gauge', samples: per(live, (x) => x.usage.memoryLimitBytes) },
    { name: 'lodge_guest_swap_used_bytes', help: "Swap used by the guest's cgroup; absent where the kernel does not account swap.", type: 'gauge', samples: per(live, (x) => x.usage.swapBytes) },
    { name: 'lodge_guest_processes', help: "Host processes (tasks) in the guest's cgroup.", type: 'gauge', samples: per(live, (x) => x.usage.processes) },
    { name: 'lodge_guest_disk_read_bytes_total', help: "Bytes read from storage: for vm guests their disks as QEMU counts them; for ct and pv what the guest's processes now alive made the kernel read (cgroup v1) or the cgroup's io.stat (v2).", type: 'counter', samples: per(live, disk('diskReadBytes')) },
    { name: 'lodge_guest_disk_written_bytes_total', help: 'Bytes written to storage, counted as lodge_guest_disk_read_bytes_total is.', type: 'counter', samples: per(live, disk('diskWrittenBytes')) },
    { name: 'lodge_guest_disk_reads_total', help: 'Read requests of its disks: vm guests (QMP), and other kinds on a cgroup v2 host (io.stat).', type: 'counter', samples: per(live, disk('diskReads')) },
    { name: 'lodge_guest_disk_writes_total', help: 'Write requests of its disks: vm guests (QMP), and other kinds on a cgroup v2 host (io.stat).', type: 'counter', samples: per(live, disk('diskWrites')) },
    { name: 'lodge_guest_network_receive_bytes_total', help: 'Bytes the guest received on a NIC (counted at its host end).', type: 'counter', samples: per(nics, (x) => x.c.transmitBytes, nic) },
    { name: 'lodge_guest_network_transmit_bytes_total', help: 'Bytes the guest sent on a NIC (counted at its host end).', type: 'counter', samples: per(nics, (x) => x.c.receiveBytes, nic) },
    { name: 'lodge_guest_network_receive_packets_total', help: 'Packets the guest received on a NIC.', type: 'counter', samples: per(nics, (x) => x.c.transmitPackets, nic) },
    { name: 'lodge_guest_network_transmit_packets_total', help: 'Packets the guest sent on a NIC.', type: 'counter', samples: per(nics, (x) => x.c.receivePackets, nic) },
    {
      name: 'lodge_guest_pressure_stalled_seconds_total',
      help: "Time some of the guest's tasks stalled for a resource (PSI 'some'). Only on a cgroup v2 host: cgroup v1 has no pressure files, so none is given there.",
      type: 'counter',
      samples: [...pressure('cpu'), ...pressure('memory'), ...pressure('io')],
    },
    { name: 'lodge_guest_vcpu_seconds_total', help: "CPU time of a vm guest's vCPU threads (QMP query-cpus-fast, then /proc), in seconds.", type: 'counter', samples: per(live, (x) => x.machine?.vcpuSeconds) },
    { name: 'lodge_guest_balloon_bytes', help: 'Memory a vm guest (virtio profile) holds after ballooning (QMP query-balloon).', type: 'gauge', samples: per(live, (x) => x.machine?.balloonBytes) },
  ];
}

function hostFamilies(host: HostStats, pools: MetricsReading['pools']): MetricFamily[] {
  const memory = (field: string) => (host.memory[field] === undefined ? [] : [{ value: host.memory[field]! }]);
  return [
    { name: 'lodge_host_cpu_seconds_total', help: "Seconds the host's CPUs (all together) spent in each mode (/proc/stat).", type: 'counter', samples: Object.entries(host.cpuSeconds).map(([mode, value]) => ({ labels: { mode }, value })) },
    { name: 'lodge_host_cpus', help: 'CPUs the host has.', type: 'gauge', samples: [{ value: host.cpus }] },
    { name: 'lodge_host_memory_total_bytes', help: "The host's memory (MemTotal).", type: 'gauge', samples: memory('MemTotal') },
    { name: 'lodge_host_memory_available_bytes', help: 'Memory the host can give without swapping (MemAvailable).', type: 'gauge', samples: memory('MemAvailable') },
    { name: 'lodge_host_swap_total_bytes', help: "The host's swap (SwapTotal).", type: 'gauge', samples: memory('SwapTotal') },
    { name: 'lodge_host_swap_free_bytes', help: "The host's unused swap (SwapFree).", type: 'gauge', samples: memory('SwapFree') },
    { name: 'lodge_host_load1', help: 'Load average over 1 minute.', type: 'gauge', samples: [{ value: host.load[0] }] },
    { name: 'lodge_host_load5', help: 'Load average over 5 minutes.', type: 'gauge', samples: [{ value: host.load[1] }] },
    { name: 'lodge_host_load15', help: 'Load average over 15 minutes.', type: 'gauge', samples: [{ value: host.load[2] }] },
    { name: 'lodge_host_pressure_stalled_seconds_total', help: "Time some of the host's tasks stalled for a resource (/proc/pressure, PSI 'some').", type: 'counter', samples: Object.entries(host.pressure).map(([resource, value]) => ({ labels: { resource }, value })) },
    { name: 'lodge_pool_size_bytes', help: "A storage pool's size (its filesystem's).", type: 'gauge', samples: pools.map((p) => ({ labels: { pool: p.name }, value: p.totalBytes })) },
    { name: 'lodge_pool_used_bytes', help: "What a storage pool's filesystem holds.", type: 'gauge', samples: pools.map((p) => ({ labels: { pool: p.name }, value: p.usedBytes })) },
  ];
}

/** Every kind and state, zeros included: a state that empties shows 0 rather than vanishing. */
function guestCounts(observed: readonly GuestObservation[]): MetricFamily[] {
  const samples = guestKinds.flatMap((kind) => guestStates.map((state) => ({ labels: { kind, state }, value: observed.filter((g) => g.kind === kind && g.state === state).length })));
  return [{ name: 'lodge_guests', help: 'Guests by kind and state.', type: 'gauge', samples }];
}
