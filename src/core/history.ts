/**
 * @module The short history lodged keeps of the host and of each guest, in memory: every
 * interval (10 s unless lodged is told otherwise) it takes the metrics' own reading (no
 * second reader of cgroups or QMP) and adds a sample to each running guest's ring and the
 * host's. A ring holds a fixed number of samples (an hour at 10 s), so a guest costs the
 * same memory however long it runs; it is dropped when the guest is deleted. Nothing is
 * written to disk: a restarted lodged starts a new history.
 */
import type { GuestHistory, GuestNow, HostHistory } from '../api/history.js';
import type { Events } from './events.js';
import type { GuestService } from './guests.js';
import { HistoryRing } from './history-ring.js';
import { guestDisk, type GuestReading, type MetricsReading, type MetricsService } from './metrics.js';

/** Samples each ring holds: an hour at the default interval. */
export const historySamples = 360;
export const defaultHistoryIntervalMs = 10_000;

const guestFields = ['cpu', 'memory', 'diskRead', 'diskWrite', 'netRx', 'netTx'] as const;
const hostFields = ['busy', 'memory', 'disk', 'load1'] as const;
type GuestField = (typeof guestFields)[number];

export interface HistoryDeps {
  metrics: Pick<MetricsService, 'read'>;
  guests: Pick<GuestService, 'get'>;
  events: Events;
  log: (message: string) => void;
  intervalMs?: number;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** A guest's counters in one sample; what its reading lacks is left out (a gap). */
function guestSample(r: GuestReading): Partial<Record<GuestField, number>> {
  const u = r.g.usage ?? {};
  const { nics } = r;
  const sample: Partial<Record<GuestField, number>> = {
    cpu: u.cpuSeconds,
    memory: u.memoryBytes,
    diskRead: guestDisk(r, 'diskReadBytes'),
    diskWrite: guestDisk(r, 'diskWrittenBytes'),
    // the host end of a NIC receives what the guest sends
    ...(nics.length ? { netRx: sum(nics.map((n) => n.c.transmitBytes)), netTx: sum(nics.map((n) => n.c.receiveBytes)) } : {}),
  };
  return Object.fromEntries(Object.entries(sample).filter(([, v]) => v !== undefined));
}

export class HistoryService {
  private readonly deps: HistoryDeps;
  readonly intervalMs: number;
  private readonly host = new HistoryRing(hostFields, historySamples);
  private readonly guestRings = new Map<string, { kind: GuestReading['g']['kind']; ring: HistoryRing<GuestField>; last: number }>();
  private totals = { cpus: 0, memoryTotalBytes: 0, diskTotalBytes: 0 };
  private timer: ReturnType<typeof setInterval> | undefined;
  private unsubscribe: (() => void) | undefined;
  private lastFailure = '';

  constructor(deps: HistoryDeps) {
    this.deps = deps;
    this.intervalMs = deps.intervalMs ?? defaultHistoryIntervalMs;
  }

  start(): void {
    this.unsubscribe = this.deps.events.subscribe((e) => e.type === 'lifecycle' && e.action === 'deleted' && this.guestRings.delete(e.target));
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.unsubscribe?.();
  }

  /** Takes one sample now (the timer's work; a test may call it). */
  async sample(): Promise<void> {
    let reading: MetricsReading;
    try {
      reading = await this.deps.metrics.read();
    } catch (e) {
      // said once per kind of failure, not every 10 s
      if ((e as Error).message !== this.lastFailure) this.deps.log(`history: cannot read the metrics: ${(e as Error).message}`);
      this.lastFailure = (e as Error).message;
      return;
    }
    this.lastFailure = '';
    this.record(reading);
  }

  /** Adds `reading` to the rings: the host's, and each running guest's; a guest no longer there loses its ring. */
  record(reading: MetricsReading): void {
    const time = reading.at / 1000;
    // the metrics serve a reading again for a second: at a one-second interval the same one can come twice
    if (this.host.length && time <= this.host.time()[this.host.length - 1]!) return;
    const { host, pools } = reading;
    const cpu = host.cpuSeconds;
    const busy = sum(Object.values(cpu)) - (cpu.idle ?? 0) - (cpu.iowait ?? 0);
    const mem = host.memory;
    this.host.push(time, {
      busy,
      ...(mem.MemTotal !== undefined && mem.MemAvailable !== undefined ? { memory: mem.MemTotal - mem.MemAvailable } : {}),
      disk: sum(pools.map((p) => p.usedBytes)),
      load1: host.load[0],
    });
    this.totals = { cpus: host.cpus, memoryTotalBytes: mem.MemTotal ?? 0, diskTotalBytes: sum(pools.map((p) => p.totalBytes)) };

    const present = new Set(reading.guests.map((r) => r.g.name));
    for (const name of this.guestRings.keys()) if (!present.has(name)) this.guestRings.delete(name);
    for (const r of reading.guests) {
      if (r.g.usage === undefined) continue;
      let entry = this.guestRings.get(r.g.name);
      if (!entry) this.guestRings.set(r.g.name, (entry = { kind: r.g.kind, ring: new HistoryRing(guestFields, historySamples), last: 0 }));
      entry.ring.push(time, guestSample(r));
      entry.last = time;
    }
  }

  /** A guest's history (empty when it has not run since lodged started); NOT_FOUND when there is no such guest. */
  guest(name: string): GuestHistory {
    this.deps.guests.get(name);
    // a guest that has not run since lodged started has an empty ring of its own, not kept
    const ring = this.guestRings.get(name)?.ring ?? new HistoryRing(guestFields, 1);
    return {
      name,
      intervalSeconds: this.intervalMs / 1000,
      time: ring.time(),
      cpu: ring.rate('cpu'),
      memoryBytes: ring.gauge('memory'),
      diskReadBytesPerSecond: ring.rate('diskRead'),
      diskWriteBytesPerSecond: ring.rate('diskWrite'),
      networkReceiveBytesPerSecond: ring.rate('netRx'),
      networkTransmitBytesPerSecond: ring.rate('netTx'),
    };
  }

  /** The host's history, and the figures of each guest that was running at the last sample. */
  hostHistory(): HostHistory {
    const h = this.host;
    const lastTime = h.length ? h.time()[h.length - 1]! : 0;
    const both = (a: number | null, b: number | null) => (a === null && b === null ? null : (a ?? 0) + (b ?? 0));
    const guests = [...this.guestRings].filter(([, e]) => e.last === lastTime).map(([name, { kind, ring }]): GuestNow => ({
      name,
      kind,
      cpu: ring.lastRate('cpu'),
      memoryBytes: ring.lastGauge('memory'),
      diskBytesPerSecond: both(ring.lastRate('diskRead'), ring.lastRate('diskWrite')),
      networkBytesPerSecond: both(ring.lastRate('netRx'), ring.lastRate('netTx')),
    }));
    return {
      intervalSeconds: this.intervalMs / 1000,
      ...this.totals,
      time: h.time(),
      cpu: h.rate('busy'),
      memoryBytes: h.gauge('memory'),
      diskBytes: h.gauge('disk'),
      load1: h.gauge('load1'),
      guests,
    };
  }
}
