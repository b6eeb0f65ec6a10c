/**
 * @module cgroups v1 and v2 behind one reader. The OCI runtime creates and writes a
 * container's cgroup; Lodge reads usage from it and finds the layout once at start.
 */
import { existsSync } from 'node:fs';
import { chown, mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export type CgroupVersion = 'v1' | 'v2';

export interface CgroupUsage {
  memoryBytes?: number;
  processes?: number;
  cpuSeconds?: number;
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

async function readNumber(file: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(file, 'utf8')).trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

async function readV2CpuSeconds(dir: string): Promise<number | undefined> {
  try {
    const m = /usage_usec (\d+)/.exec(await readFile(path.join(dir, 'cpu.stat'), 'utf8'));
    return m ? Number(m[1]) / 1e6 : undefined;
  } catch {
    return undefined;
  }
}

/** Usage of the cgroup at `cgroupPath` (as given to the runtime, e.g. /lodge/x-1). */
export async function readUsage(version: CgroupVersion, cgroupPath: string): Promise<CgroupUsage> {
  if (version === 'v2') {
    const dir = path.join(root, cgroupPath);
    const [memoryBytes, processes, cpuSeconds] = await Promise.all([readNumber(path.join(dir, 'memory.current')), readNumber(path.join(dir, 'pids.current')), readV2CpuSeconds(dir)]);
    return { memoryBytes, processes, cpuSeconds };
  }
  const [ns, memoryBytes, processes] = await Promise.all(
    [['cpuacct', 'cpuacct.usage'], ['memory', 'memory.usage_in_bytes'], ['pids', 'pids.current']].map(([hierarchy, file]) => readNumber(path.join(root, hierarchy!, cgroupPath, file!))),
  );
  return { memoryBytes, processes, cpuSeconds: ns === undefined ? undefined : ns / 1e9 };
}

/** Host pids of the processes in the cgroup at `cgroupPath` (its pids hierarchy on v1). */
export async function cgroupProcesses(version: CgroupVersion, cgroupPath: string): Promise<number[]> {
  const file = version === 'v2' ? path.join(root, cgroupPath, 'cgroup.procs') : path.join(root, 'pids', cgroupPath, 'cgroup.procs');
  const text = await readFile(file, 'utf8').catch(() => '');
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
