/**
 * @module cgroups v1 and v2 behind one reader. The OCI runtime creates and writes a
 * container's cgroup; Lodge reads usage from it and finds the layout once at start.
 */
import { existsSync } from 'node:fs';
import { chown, readdir, readFile } from 'node:fs/promises';
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
