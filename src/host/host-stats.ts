/**
 * @module What the host's kernel counts for the whole machine, read from /proc: CPU time
 * by mode, memory, load, and the byte and packet counters of network devices (of lodged's
 * own network namespace: /proc/net follows the reader's, where /sys/class/net follows the
 * namespace /sys was mounted in). Files only, no program run.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { parsePressure } from './cgroups.js';

/** Clock ticks of /proc/stat: USER_HZ, 100 on every Linux architecture Lodge runs on. */
const userHz = 100;

const cpuModes = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;
export type CpuMode = (typeof cpuModes)[number];

/** Seconds the host's CPUs (all together) spent in each mode, from the `cpu` line of /proc/stat. */
export function parseProcStat(text: string): Partial<Record<CpuMode, number>> {
  const line = /^cpu\s+([\d\s]+)$/m.exec(text);
  if (!line) return {};
  const ticks = line[1]!.trim().split(/\s+/).map(Number);
  return Object.fromEntries(cpuModes.flatMap((mode, i) => (ticks[i] === undefined ? [] : [[mode, ticks[i]! / userHz]])));
}

/** /proc/meminfo's fields, in bytes (the kernel writes kB). */
export function parseMeminfo(text: string): Record<string, number> {
  const fields: Record<string, number> = {};
  for (const m of text.matchAll(/^(\w+):\s+(\d+)(?: kB)?$/gm)) fields[m[1]!] = Number(m[2]) * (m[0].endsWith('kB') ? 1024 : 1);
  return fields;
}

export interface LinkCounters {
  receiveBytes: number;
  receivePackets: number;
  transmitBytes: number;
  transmitPackets: number;
}

/** Each device of /proc/net/dev with its counters, as the host end sees them. */
export function parseNetDev(text: string): Map<string, LinkCounters> {
  const links = new Map<string, LinkCounters>();
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const n = m[2]!.trim().split(/\s+/).map(Number);
    if (n.length < 10) continue;
    links.set(m[1]!, { receiveBytes: n[0]!, receivePackets: n[1]!, transmitBytes: n[8]!, transmitPackets: n[9]! });
  }
  return links;
}

export interface HostStats {
  cpuSeconds: Partial<Record<CpuMode, number>>;
  cpus: number;
  memory: Record<string, number>;
  load: [number, number, number];
  /** Seconds some task stalled on each resource (PSI), where the kernel has /proc/pressure. */
  pressure: Partial<Record<'cpu' | 'memory' | 'io', number>>;
}

export async function readHostStats(): Promise<HostStats> {
  const [stat, meminfo] = await Promise.all([readFile('/proc/stat', 'utf8'), readFile('/proc/meminfo', 'utf8')]);
  const resources = ['cpu', 'memory', 'io'] as const;
  const psi = await Promise.all(resources.map((r) => readFile(`/proc/pressure/${r}`, 'utf8').then(parsePressure, () => undefined)));
  const pressure = Object.fromEntries(resources.flatMap((r, i) => (psi[i] === undefined ? [] : [[r, psi[i]!]])));
  const [l1, l5, l15] = os.loadavg();
  return { cpuSeconds: parseProcStat(stat), cpus: os.availableParallelism(), memory: parseMeminfo(meminfo), load: [l1!, l5!, l15!], pressure };
}

/** The counters of every network device in lodged's namespace: one read for all guests' NICs. */
export async function readLinkCounters(): Promise<Map<string, LinkCounters>> {
  return parseNetDev(await readFile('/proc/net/dev', 'utf8'));
}
