/**
 * @module The host's kernel limits that thousands of guests run into, raised (never
 * lowered) when lodged starts, each with why; what it changed goes to the log. Past a
 * few hundred containers the defaults fail one by one: runc's session keyring per
 * container counts against one uid's key quota (all unprivileged guests' root is one
 * host uid), a guest's processes need pids, its network namespace an ARP entry on the
 * host, inotify users need instances.
 */
import { readFile, writeFile } from 'node:fs/promises';

export interface KernelLimit {
  sysctl: string;
  minimum: number;
  why: string;
}

export const kernelLimits: readonly KernelLimit[] = [
  { sysctl: 'kernel.keys.maxkeys', minimum: 20_000, why: "runc makes a session keyring per container, all charged to the guests' one root uid" },
  { sysctl: 'kernel.keys.maxbytes', minimum: 2_000_000, why: 'the bytes of those keyrings' },
  { sysctl: 'kernel.pid_max', minimum: 4_194_304, why: "every guest's processes and lodge-shim" },
  { sysctl: 'fs.inotify.max_user_instances', minimum: 8192, why: 'inotify instances of the processes in guests' },
  { sysctl: 'fs.inotify.max_user_watches', minimum: 524_288, why: 'inotify watches of the processes in guests' },
  { sysctl: 'net.ipv4.neigh.default.gc_thresh3', minimum: 16_384, why: 'the ARP table holds an entry per guest the host talks to' },
  { sysctl: 'net.ipv4.neigh.default.gc_thresh2', minimum: 8192, why: 'the same, before the kernel starts pruning' },
];

const file = (sysctl: string) => `/proc/sys/${sysctl.replace(/\./g, '/')}`;

/** Pure: the limits to raise, given the current values. */
export function limitsToRaise(current: ReadonlyMap<string, number>): Array<KernelLimit & { from: number }> {
  return kernelLimits.flatMap((l) => {
    const from = current.get(l.sysctl);
    return from !== undefined && from < l.minimum ? [{ ...l, from }] : [];
  });
}

/** Raises what is too low; returns one line per change, for the log. A limit this kernel lacks is skipped. */
export async function raiseKernelLimits(): Promise<string[]> {
  const current = new Map<string, number>();
  for (const l of kernelLimits) {
    const text = await readFile(file(l.sysctl), 'utf8').catch(() => undefined);
    if (text !== undefined) current.set(l.sysctl, Number(text.trim()));
  }
  const changed: string[] = [];
  for (const l of limitsToRaise(current)) {
    await writeFile(file(l.sysctl), `${l.minimum}\n`);
    changed.push(`raised ${l.sysctl} from ${l.from} to ${l.minimum}: ${l.why}`);
  }
  return changed;
}
