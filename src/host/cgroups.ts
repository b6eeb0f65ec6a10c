/**
 * @module cgroups v1 and v2 behind one reader. The OCI runtime creates and writes a
 * container's cgroup; Lodge reads usage from it and finds the layout once at start.
 */
import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export type CgroupVersion = 'v1' | 'v2';

export interface CgroupUsage {
  memoryBytes?: number;
  processes?: number;
  cpuSeconds?: number;
  /** Absent when the cgroup has no memory limit. */
  memoryLimitBytes?: number;
  swapBytes?: number;
  /** Bytes its processes made the block layer read and write (v1: of the processes alive now). */
  diskReadBytes?: number;
  diskWrittenBytes?: number;
  /** v2 only (io.stat): v1's blkio counts nothing on this kernel without a throttle rule. */
  diskReads?: number;
  diskWrites?: number;
  /** Seconds some of its tasks stalled, from PSI: v2 only, a v1 cgroup has no pressure files. */
  pressure?: { cpuSeconds?: number; memorySeconds?: number; ioSeconds?: number };
}

const root = '/sys/fs/cgroup';

/** Whether memory limits can cover swap too (memsw on v1, which a kernel may lack; always on v2). */
export function canLimitSwap(): boolean {
  return existsSync(path.join(root, 'memory/memory.memsw.limit_in_bytes')) || existsSync(path.join(root, 'cgroup.controllers'));
}

/** v2 only when the whole hierarchy is unified; a hybrid host (v2 mounted beside v1) counts as v1. */
export function cgroupVersion(): CgroupVersion {
  return existsSync(path.join(root, 'cgroup.controllers')) ? 'v2' : 'v1';
}

/**
 * The kernel's own small files (cgroup, /proc), read synchronously: they are made in memory at
 * the read and never wait on a disk, and an async read costs about ten times as much in the
 * thread pool's round trips (1.5 s against 0.12 s for the 1,000 guests of a metrics scrape).
 */
function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function readNumber(file: string): number | undefined {
  const text = readText(file);
  const n = text === undefined ? NaN : Number(text.trim());
  return Number.isFinite(n) ? n : undefined;
}

function readV2CpuSeconds(dir: string): number | undefined {
  const m = /usage_usec (\d+)/.exec(readText(path.join(dir, 'cpu.stat')) ?? '');
  return m ? Number(m[1]) / 1e6 : undefined;
}

/** A limit of "max" (v2) or near 2^63 (v1, rounded to a page) means none. */
const noLimit = 2 ** 62;

/** Sums of the `key=value` fields of every device's line of a v2 io.stat. */
export function parseIoStat(text: string): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const m of text.matchAll(/(\w+)=(\d+)/g)) sums[m[1]!] = (sums[m[1]!] ?? 0) + Number(m[2]);
  return sums;
}

/** The `some` total of a PSI file (microseconds), in seconds. */
export function parsePressure(text: string): number | undefined {
  const m = /^some .*total=(\d+)/m.exec(text);
  return m ? Number(m[1]) / 1e6 : undefined;
}

/** Bytes read and written for a process, from the read_bytes and write_bytes of /proc/PID/io. */
export function parseProcIo(text: string): { readBytes: number; writtenBytes: number } | undefined {
  const read = /^read_bytes: (\d+)/m.exec(text);
  const written = /^write_bytes: (\d+)/m.exec(text);
  return read && written ? { readBytes: Number(read[1]), writtenBytes: Number(written[1]) } : undefined;
}

/** A cgroup with more processes than this has no disk figures: reading each one's /proc/PID/io would let a guest make every reading of it (a scrape) as slow as it likes. */
const maxIoProcesses = 256;

/** What the cgroup's live processes read and wrote: v1's blkio counters stay at 0 here (they count only throttled groups). */
function processesIo(version: CgroupVersion, cgroupPath: string): Pick<CgroupUsage, 'diskReadBytes' | 'diskWrittenBytes'> {
  const pids = (readText(procsFile(version, cgroupPath)) ?? '').split('\n').filter(Boolean);
  if (pids.length === 0 || pids.length > maxIoProcesses) return {};
  const io = pids.map((pid) => readText(`/proc/${pid}/io`)).map((t) => (t === undefined ? undefined : parseProcIo(t)));
  return { diskReadBytes: io.reduce((a, x) => a + (x?.readBytes ?? 0), 0), diskWrittenBytes: io.reduce((a, x) => a + (x?.writtenBytes ?? 0), 0) };
}

const limited = (n: number | undefined) => (n !== undefined && n < noLimit ? n : undefined);

function readV2(dir: string): CgroupUsage {
  const [memoryBytes, processes, cpuSeconds, max, swapBytes] = [
    readNumber(path.join(dir, 'memory.current')),
    readNumber(path.join(dir, 'pids.current')),
    readV2CpuSeconds(dir),
    readNumber(path.join(dir, 'memory.max')),
    readNumber(path.join(dir, 'memory.swap.current')),
  ];
  const io = readText(path.join(dir, 'io.stat'));
  const [cpuP, memoryP, ioP] = ['cpu', 'memory', 'io'].map((r) => readText(path.join(dir, `${r}.pressure`)));
  const stat = io === undefined ? undefined : parseIoStat(io);
  const seconds = (t: string | undefined) => (t === undefined ? undefined : parsePressure(t));
  return {
    memoryBytes,
    processes,
    cpuSeconds,
    memoryLimitBytes: limited(max),
    swapBytes,
    ...(stat ? { diskReadBytes: stat.rbytes ?? 0, diskWrittenBytes: stat.wbytes ?? 0, diskReads: stat.rios ?? 0, diskWrites: stat.wios ?? 0 } : {}),
    pressure: { cpuSeconds: seconds(cpuP), memorySeconds: seconds(memoryP), ioSeconds: seconds(ioP) },
  };
}

/** Usage of the cgroup at `cgroupPath` (as given to the runtime, e.g. /lodge/x-1): a few small files, no program run. */
export async function readUsage(version: CgroupVersion, cgroupPath: string): Promise<CgroupUsage> {
  if (version === 'v2') return readV2(path.join(root, cgroupPath));
  const file = (hierarchy: string, name: string) => readNumber(path.join(root, hierarchy, cgroupPath, name));
  const [ns, memoryBytes, processes, limit, memsw] = [
    file('cpuacct', 'cpuacct.usage'),
    file('memory', 'memory.usage_in_bytes'),
    file('pids', 'pids.current'),
    file('memory', 'memory.limit_in_bytes'),
    file('memory', 'memory.memsw.usage_in_bytes'),
  ];
  const io = processesIo(version, cgroupPath);
  // memsw counts memory and swap together; without it (no swap accounting) swap is not known
  const swapBytes = memsw !== undefined && memoryBytes !== undefined ? Math.max(0, memsw - memoryBytes) : undefined;
  return { memoryBytes, processes, cpuSeconds: ns === undefined ? undefined : ns / 1e9, memoryLimitBytes: limited(limit), swapBytes, ...io };
}

/** How many processes the cgroup holds now (its pids controller), without the rest of its usage. */
export async function processCount(version: CgroupVersion, cgroupPath: string): Promise<number | undefined> {
  return readNumber(version === 'v2' ? path.join(root, cgroupPath, 'pids.current') : path.join(root, 'pids', cgroupPath, 'pids.current'));
}

const procsFile = (version: CgroupVersion, cgroupPath: string) => (version === 'v2' ? path.join(root, cgroupPath, 'cgroup.procs') : path.join(root, 'pids', cgroupPath, 'cgroup.procs'));

/** Host pids of the processes in the cgroup at `cgroupPath` (its pids hierarchy on v1). */
export async function cgroupProcesses(version: CgroupVersion, cgroupPath: string): Promise<number[]> {
  const text = await readFile(procsFile(version, cgroupPath), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

/**
 * Hands a guest's own cgroup to its root user, so an init such as systemd can make
 * sub-cgroups for its services. Only the hierarchies that carry no resource limits are
 * given (name=systemd and the hybrid unified tree on v1; the whole cgroup on v2, whose
 * limit files sit in the parent): a guest cannot raise its own limits.
 */
export async function delegate(version: CgroupVersion, cgroupPath: string, uid: number): Promise<void> {
  const dirs = version === 'v2' ? [path.join(root, cgroupPath)] : ['systemd', 'unified'].map((h) => path.join(root, h, cgroupPath));
  for (const dir of dirs.filter((d) => existsSync(d))) {
    await chown(dir, uid, uid);
    for (const file of await readdir(dir)) {
      if (file.startsWith('cgroup.') || file === 'tasks' || file === 'notify_on_release') await chown(path.join(dir, file), uid, uid).catch(() => {});
    }
  }
}

/** Limits as the kernel's cgroup files take them, for guests whose engine does not manage cgroups. */
export interface CgroupLimits {
  cpu?: number;
  memoryBytes?: number;
  swapBytes?: number;
  processes?: number;
}

const v1Controllers = ['cpu', 'cpuacct', 'memory', 'pids'] as const;
const cpuPeriodUs = 100_000;

/** [file, value, may fail]: a write that may fail is retried by a later entry. */
function limitFiles(version: CgroupVersion, limits: CgroupLimits): Array<[string, string, boolean?]> {
  const files: Array<[string, string, boolean?]> = [];
  const { cpu, memoryBytes, swapBytes, processes } = limits;
  if (version === 'v1') {
    if (cpu !== undefined) files.push(['cpu/cpu.cfs_period_us', String(cpuPeriodUs)], ['cpu/cpu.cfs_quota_us', String(Math.round(cpu * cpuPeriodUs))], ['cpu/cpu.shares', String(Math.max(2, Math.round(cpu * 1024)))]);
    if (memoryBytes !== undefined) {
      // memsw may never be below the memory limit: raising needs memsw first, lowering memory first
      const memsw = canLimitSwap() ? String(memoryBytes + (swapBytes ?? 0)) : undefined;
      if (memsw) files.push(['memory/memory.memsw.limit_in_bytes', memsw, true]);
      files.push(['memory/memory.limit_in_bytes', String(memoryBytes)]);
      if (memsw) files.push(['memory/memory.memsw.limit_in_bytes', memsw]);
    }
    if (processes !== undefined) files.push(['pids/pids.max', String(processes)]);
  } else {
    if (cpu !== undefined) files.push(['cpu.max', `${Math.round(cpu * cpuPeriodUs)} ${cpuPeriodUs}`]);
    if (memoryBytes !== undefined) files.push(['memory.max', String(memoryBytes)], ['memory.swap.max', String(swapBytes ?? 0)]);
    if (processes !== undefined) files.push(['pids.max', String(processes)]);
  }
  return files;
}

const dirOf = (version: CgroupVersion, cgroupPath: string, controller = '') => (version === 'v1' ? path.join(root, controller, cgroupPath) : path.join(root, cgroupPath));

/** Makes a guest's cgroup with its limits; returns the cgroup.procs files its process joins. */
export async function createCgroup(version: CgroupVersion, cgroupPath: string, limits: CgroupLimits): Promise<string[]> {
  if (version === 'v2') {
    // each level above must hand the controllers down
    const parts = cgroupPath.split('/').filter(Boolean);
    for (let i = 0; i < parts.length; i++) {
      const dir = path.join(root, ...parts.slice(0, i));
      await mkdir(path.join(root, ...parts.slice(0, i + 1)), { recursive: true });
      await writeFile(path.join(dir, 'cgroup.subtree_control'), '+cpu +memory +pids').catch(() => {});
    }
  } else {
    for (const c of v1Controllers) await mkdir(dirOf(version, cgroupPath, c), { recursive: true });
  }
  await setCgroupLimits(version, cgroupPath, limits);
  const controllers = version === 'v1' ? v1Controllers : [''];
  return controllers.map((c) => path.join(dirOf(version, cgroupPath, c), 'cgroup.procs'));
}

export async function setCgroupLimits(version: CgroupVersion, cgroupPath: string, limits: CgroupLimits): Promise<void> {
  for (const [file, value, mayFail] of limitFiles(version, limits)) {
    const [controller, name] = version === 'v1' ? file.split('/') : ['', file];
    await writeFile(path.join(dirOf(version, cgroupPath, controller), name!), value).catch((e: Error) => {
      if (!mayFail) throw new Error(`cannot set ${file} of ${cgroupPath} to ${value}: ${e.message}`);
    });
  }
}

/** What a cgroup is allowed of memory now, and what it uses: what the autonomic loop balances. */
export interface MemoryAllocationReading {
  /** v1: memory.limit_in_bytes; v2: memory.high (memory.max where high is unset). */
  allocationBytes?: number;
  /** Its use without the file cache it could drop (inactive_file): its working set. */
  workingSetBytes?: number;
  /** Its processes the kernel killed for want of memory (v1: memory.oom_control's oom_kill; v2: memory.events oom_kill). */
  oomKills?: number;
}

/** The `key value` lines of a cgroup's memory.stat, memory.events or memory.oom_control. */
export function parseKeyedNumbers(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(\w+) (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

export function readMemoryAllocation(version: CgroupVersion, cgroupPath: string): MemoryAllocationReading {
  const dir = dirOf(version, cgroupPath, 'memory');
  const keyed = (name: string) => parseKeyedNumbers(readText(path.join(dir, name)) ?? '');
  const stat = keyed('memory.stat');
  if (version === 'v1') {
    const usage = readNumber(path.join(dir, 'memory.usage_in_bytes'));
    return {
      allocationBytes: limited(readNumber(path.join(dir, 'memory.limit_in_bytes'))),
      workingSetBytes: usage === undefined ? undefined : Math.max(0, usage - (stat.total_inactive_file ?? 0)),
      oomKills: keyed('memory.oom_control').oom_kill,
    };
  }
  const current = readNumber(path.join(dir, 'memory.current'));
  return {
    allocationBytes: limited(readNumber(path.join(dir, 'memory.high'))) ?? limited(readNumber(path.join(dir, 'memory.max'))),
    workingSetBytes: current === undefined ? undefined : Math.max(0, current - (stat.inactive_file ?? 0)),
    oomKills: keyed('memory.events').oom_kill,
  };
}

/**
 * Sets what a guest's cgroup is allowed of memory below its limit: on v1 the limit itself
 * (memory.limit_in_bytes, memsw moved with it; the soft limit would act only when the whole
 * host runs short), on v2 memory.high (the kernel throttles and reclaims above it; memory.max
 * stays the ceiling). A v1 limit below what the cgroup cannot give back fails (EBUSY).
 */
export async function setMemoryAllocation(version: CgroupVersion, cgroupPath: string, bytes: number, swapBytes: number | undefined): Promise<void> {
  if (version === 'v1') return setCgroupLimits(version, cgroupPath, { memoryBytes: bytes, ...(swapBytes !== undefined ? { swapBytes } : {}) });
  await writeFile(path.join(root, cgroupPath, 'memory.high'), String(bytes)).catch((e: Error) => {
    throw new Error(`cannot set memory.high of ${cgroupPath} to ${bytes}: ${e.message}`);
  });
}

/** The range of v1's cpu.shares, and what a cgroup has unless told (the kernel's default). */
export const minCpuShares = 2;
export const maxCpuShares = 262_144;
export const defaultCpuShares = 1024;

/** v2's cpu.weight (1-10000) for v1's cpu.shares (2-262144), as the OCI runtimes convert it. */
export const sharesToWeight = (shares: number) => 1 + Math.floor(((shares - minCpuShares) * 9999) / (maxCpuShares - minCpuShares));
/** The least shares that give `weight`: sharesToWeight(weightToShares(w)) === w. */
export const weightToShares = (weight: number) => minCpuShares + Math.ceil(((weight - 1) * (maxCpuShares - minCpuShares)) / 9999);

/**
 * A cgroup's CPU weight in v1's unit (cpu.shares; on v2 its cpu.weight converted back), or
 * undefined when it cannot be read. `sameCpuWeight` says whether two such figures are one
 * weight to the kernel: on v2 many shares map to one cpu.weight.
 */
export function readCpuShares(version: CgroupVersion, cgroupPath: string): number | undefined {
  if (version === 'v1') return readNumber(path.join(root, 'cpu', cgroupPath, 'cpu.shares'));
  const weight = readNumber(path.join(root, cgroupPath, 'cpu.weight'));
  return weight === undefined ? undefined : weightToShares(weight);
}

export const sameCpuWeight = (version: CgroupVersion, a: number, b: number) => (version === 'v1' ? a === b : sharesToWeight(a) === sharesToWeight(b));

/** Sets only a cgroup's CPU weight (the autonomic loop's), leaving its quota and every other limit as they are. */
export async function setCpuShares(version: CgroupVersion, cgroupPath: string, shares: number): Promise<void> {
  const value = Math.min(maxCpuShares, Math.max(minCpuShares, Math.round(shares)));
  const [file, text] = version === 'v1' ? [path.join(root, 'cpu', cgroupPath, 'cpu.shares'), String(value)] : [path.join(root, cgroupPath, 'cpu.weight'), String(sharesToWeight(value))];
  await writeFile(file, text).catch((e: Error) => {
    throw new Error(`cannot set ${path.basename(file)} of ${cgroupPath} to ${text}: ${e.message}`);
  });
}

/** Kills every process in the cgroup and removes it. */
export async function destroyCgroup(version: CgroupVersion, cgroupPath: string): Promise<void> {
  const procs = path.join(dirOf(version, cgroupPath, 'memory'), 'cgroup.procs');
  for (let i = 0; i < 100 && existsSync(procs); i++) {
    const pids = (await readFile(procs, 'utf8')).split('\n').filter(Boolean).map(Number);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const controllers = version === 'v1' ? v1Controllers : [''];
  for (const c of controllers) await rmdir(dirOf(version, cgroupPath, c)).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
}
