/**
 * @module cgroups v1 and v2 behind one reader. The OCI runtime creates and writes a
 * container's cgroup; Lodge reads usage from it and finds the layout once at start.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export type CgroupVersion = 'v1' | 'v2';

export interface CgroupUsage {
  memoryBytes?: number;
  processes?: number;
  cpuSeconds?: number;
}

const root = '/sys/fs/cgroup';

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
    return {
      memoryBytes: await readNumber(path.join(dir, 'memory.current')),
      processes: await readNumber(path.join(dir, 'pids.current')),
      cpuSeconds: await readV2CpuSeconds(dir),
    };
  }
  const ns = await readNumber(path.join(root, 'cpuacct', cgroupPath, 'cpuacct.usage'));
  return {
    memoryBytes: await readNumber(path.join(root, 'memory', cgroupPath, 'memory.usage_in_bytes')),
    processes: await readNumber(path.join(root, 'pids', cgroupPath, 'pids.current')),
    cpuSeconds: ns === undefined ? undefined : ns / 1e9,
  };
}

/** Every directory that a cgroup path occupies, to find leftovers after a crash. */
export function cgroupDirs(version: CgroupVersion, cgroupPath: string): string[] {
  if (version === 'v2') return [path.join(root, cgroupPath)];
  return ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd']
    .map((c) => path.join(root, c, cgroupPath))
    .filter((d) => existsSync(d));
}
