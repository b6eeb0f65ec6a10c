/**
 * @module The KSM policy, the decision alone: whether this lodged wants ksmd running, and
 * whether to start or stop it, with the reason in words. Pure: core reads the host and the
 * guests, asks this, and writes what it answers.
 *
 * ksmd costs a CPU's slice to scan pages and merges only what is mergeable (vm guests' memory,
 * QEMU's mem-merge), so it is worth running only while vm guests run; `auto` runs it while the
 * guest memory budget is overcommitted too (what it saves is then what the guests lack),
 * `always` whenever a vm runs, `off` never (and vm guests' memory is not offered to it: pages
 * shared between guests are a side channel some will not have).
 */
import type { KsmMode } from '../api/autonomic.js';

export interface KsmInput {
  mode: KsmMode;
  overcommitted: boolean;
  /** vm guests running (their memory mergeable unless the mode is off). */
  vmGuests: number;
  /** The host's ksmd: 0 stopped, 1 running, 2 unmerging. */
  run: number;
  /** Another lodged on the host wants it running. */
  othersWant: boolean;
  /** A lodged started it (not the host's administrator). */
  startedByLodge: boolean;
}

export interface KsmDecision {
  want: boolean;
  /** What to write to its run file; none: leave it. */
  set?: 0 | 1;
  /** Why it runs or not, or why it is started or stopped. */
  why: string;
}

const vms = (n: number) => `${n} vm guest${n === 1 ? '' : 's'}`;

export function decideKsm(i: KsmInput): KsmDecision {
  if (i.mode === 'off') return { want: false, why: "lodged --ksm off: vm guests' memory is not offered to KSM" };
  const want = i.vmGuests > 0 && (i.mode === 'always' || i.overcommitted);
  const because =
    i.vmGuests === 0
      ? 'no vm guest runs (only their memory is mergeable)'
      : i.mode === 'always'
        ? `${vms(i.vmGuests)} run (lodged --ksm always)`
        : i.overcommitted
          ? `the guest memory budget is overcommitted and ${vms(i.vmGuests)} run: ksmd merges their identical pages`
          : `the ceilings of the running guests fit the budget: merging is not worth ksmd's CPU (lodged --ksm always runs it whenever a vm runs)`;
  if (i.run === 2) return { want, why: `ksmd is unmerging every page (its run is 2, the host's administrator's choice): left so; ${because}` };
  if (want && i.run !== 1) return { want, set: 1, why: `${because}; ksmd started` };
  if (!want && i.run === 1) {
    if (!i.startedByLodge) return { want, why: `ksmd runs, started by the host's administrator: left running; ${because}` };
    if (i.othersWant) return { want, why: `ksmd runs for another lodged on this host; ${because}` };
    return { want, set: 0, why: `${because}; ksmd stopped` };
  }
  return { want, why: because };
}
