/**
 * @module A running vm's vCPU count changed live: QEMU starts it with room for more
 * (-smp N,maxcpus=M) and plugs vCPUs into the free slots (device_add, ACPI hot-plug), or
 * unplugs those it plugged (device_del: the guest's kernel takes each offline and ejects it).
 * The vCPUs it booted with stay until its next start, as do more than its slots. Under TCG
 * nothing is unplugged: QEMU 7.2 gives each vCPU thread it ever made a translation context of
 * its own, at most maxcpus of them, and aborts when a vCPU plugged again needs one more. A
 * Linux guest adds a plugged vCPU offline: Lodge brings it online through the guest's agent.
 */
import type { LimitsAtNextStart } from '../driver.js';
import type { Qmp } from './qmp.js';

/** A slot of query-hotpluggable-cpus: a vCPU's place, filled (qom-path) or free. */
export interface CpuSlot {
  type: string;
  props: Record<string, number>;
  'qom-path'?: string;
}

/** Where Lodge's plugged vCPUs live: device ids under /machine/peripheral/. */
const plugged = (s: CpuSlot) => s['qom-path']?.startsWith('/machine/peripheral/') === true;

/** Pure: the slots to plug or unplug to go from `have` vCPUs to `want`, and what waits for the next start. */
export function planVcpus(slots: CpuSlot[], have: number, want: number, canUnplug = true): { plug: CpuSlot[]; unplug: CpuSlot[]; later?: string } {
  if (want > have) {
    const free = slots.filter((s) => !s['qom-path']);
    const plug = free.slice(0, want - have);
    const later = plug.length < want - have ? `its machine has room for ${have + free.length} vCPUs until then; it has ${have + plug.length} now` : undefined;
    return { plug, unplug: [], ...(later ? { later } : {}) };
  }
  if (!canUnplug) return { plug: [], unplug: [], later: `it keeps its ${have} vCPUs until then (under TCG a vCPU unplugged could not be plugged in again)` };
  // the newest plugged go first; the ones it booted with stay
  const unplug = slots.filter(plugged).reverse().slice(0, have - want);
  const later = unplug.length < have - want ? `it keeps the ${have - unplug.length} vCPUs it booted with until then` : undefined;
  return { plug: [], unplug, ...(later ? { later } : {}) };
}

/** A free slot's device id: its place, so that it is the same whoever plugs it. */
const deviceId = (s: CpuSlot) => `vcpu-${Object.entries(s.props).sort().map(([k, v]) => `${k.replace(/-id$/, '')}${v}`).join('-')}`;

/** Plugs or unplugs vCPUs until the machine has `want` (or as near as it can), waiting for unplugs to finish. */
export async function setVcpus(q: Qmp, want: number, canUnplug: boolean, timeoutMs = 20_000): Promise<{ later?: LimitsAtNextStart[number]; plugged: number; count: number }> {
  const have = (await q.cpus()).length;
  if (have === want) return { plugged: 0, count: have };
  const plan = planVcpus(await q.execute<CpuSlot[]>('query-hotpluggable-cpus'), have, want, canUnplug);
  for (const s of plan.plug) await q.execute('device_add', { driver: s.type, id: deviceId(s), ...s.props });
  for (const s of plan.unplug) await q.execute('device_del', { id: s['qom-path']!.split('/').pop() });
  // an unplug ends once the guest has ejected the vCPU
  const target = have + plan.plug.length - plan.unplug.length;
  for (const end = Date.now() + timeoutMs; (await q.cpus()).length !== target && Date.now() < end; ) await new Promise((r) => setTimeout(r, 200));
  const now = (await q.cpus()).length;
  const later = plan.later ?? (now !== target ? `the guest has not given back ${now - target} of its vCPUs (it ejects them itself)` : undefined);
  return { plugged: plan.plug.length, count: now, ...(later ? { later: { limit: 'cpu', why: later } } : {}) };
}

/** The guest's side of a plug, run through its agent: every vCPU that is offline comes online, until it has `count` (its kernel adds them in a moment). */
export const onlineCpus = (count: number) => [
  'sh',
  '-c',
  'for i in $(seq 50); do for f in /sys/devices/system/cpu/cpu[0-9]*/online; do [ "$(cat "$f")" = 1 ] || echo 1 > "$f"; done; [ "$(grep -c ^processor /proc/cpuinfo)" -ge "$1" ] && exit 0; sleep 0.1; done; exit 1',
  'lodge-online-cpus',
  String(count),
];
