/**
 * @module Which OCI runtime runs containers here, and why: crun on a pure cgroup v2
 * host (it is smaller and faster), runc otherwise (crun 1.8 refuses a hybrid v1 host).
 */
import { run } from '../../lib/exec.js';
import type { CgroupVersion } from '../../host/cgroups.js';

export interface RuntimeChoice {
  binary: string | undefined;
  reason: string;
}

async function version(binary: string): Promise<string | undefined> {
  try {
    return (await run([binary, '--version'], { timeoutMs: 10_000 })).stdout.split('\n')[0]?.trim();
  } catch {
    return undefined;
  }
}

export async function chooseRuntime(cgroups: CgroupVersion): Promise<RuntimeChoice> {
  if (cgroups === 'v2') {
    const crun = await version('crun');
    if (crun) return { binary: 'crun', reason: `${crun}, chosen because this host has a pure cgroup v2 hierarchy` };
  }
  const runc = await version('runc');
  if (runc) return { binary: 'runc', reason: `${runc}, chosen because this host's cgroups are ${cgroups === 'v1' ? 'v1 (hybrid)' : 'v2 and crun is missing'}` };
  return { binary: undefined, reason: 'no OCI runtime found: install the Debian package runc' };
}

/** glibc's SIGRTMIN: the kernel's 32 plus the two that threads use. */
const rtmin = 34;
const rtmax = 64;

/** A signal as the runtime's kill accepts it: realtime names (systemd's SIGRTMIN+4) become numbers. */
export function runtimeSignal(name: string): string {
  const rt = /^SIGRTM(IN|AX)([+-]\d+)?$/.exec(name);
  if (!rt) return name;
  const n = (rt[1] === 'IN' ? rtmin : rtmax) + Number(rt[2] ?? 0);
  if (n < rtmin || n > rtmax) throw new Error(`${name} is not a realtime signal (${rtmin}-${rtmax})`);
  return String(n);
}
