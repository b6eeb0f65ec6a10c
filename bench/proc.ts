/**
 * @module What the benchmarks read of the host's memory: a process's PSS, /proc/meminfo.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/** A process's proportional set size in KiB; 0 for one that is gone. */
export function pssKb(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * /proc/meminfo in bytes, after letting the kernel settle: caches and reclaimable slab
 * dropped, so that what was freed before does not count against what is measured now.
 */
export function settledMeminfo(): Record<string, number> {
  execFileSync('sync');
  writeFileSync('/proc/sys/vm/drop_caches', '3\n');
  execFileSync('sleep', ['2']);
  return meminfo();
}

/** /proc/meminfo in bytes. */
export function meminfo(): Record<string, number> {
  return Object.fromEntries(
    readFileSync('/proc/meminfo', 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [k, v] = l.split(':');
        return [k!, Number.parseInt(v!, 10) * 1024];
      }),
  );
}

/** The parent of a process: a guest's init's is its lodge-shim. */
export const parentPid = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
