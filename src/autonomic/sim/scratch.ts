/**
 * @module The allocation a baseline works on while it decides: which VMs each host holds,
 * their requested MIPS now, and what each host's load was when the decision began (CloudSim
 * keeps that stale figure for a host's current power and for finding underloaded hosts).
 * A VM may sit on two hosts at once here, as in CloudSim: consolidation places a VM on its
 * destination before the source lets it go.
 */
import { hostMips, type HostType, type VmType } from '../planner/model.js';

export interface ScratchVm {
  readonly type: VmType;
  /** Requested share of its MIPS per sample (index = sample). */
  readonly util: Float64Array;
}

export const historyLength = 30;

export class Scratch {
  readonly hosts: readonly HostType[];
  readonly vms: readonly ScratchVm[];
  /** The sample the decision is made at; the VMs' history ends with it (CloudSim records it before deciding). */
  readonly sample: number;
  /**
   * True at the first placement. A VM being created asks for its RAM and bandwidth; once
   * running it asks for none: CloudSim's PlanetLab cloudlets model neither (their RAM and
   * bandwidth utilisation models are null), so only CPU limits where a running VM may go.
   */
  readonly creating: boolean;
  readonly capacity: Float64Array;
  /** Requested MIPS of each VM now. */
  readonly req: Float64Array;
  readonly guests: number[][];
  readonly reqMips: Float64Array;
  readonly ramMb: Float64Array;
  readonly bwMbit: Float64Array;
  /** MIPS each host's guests got when the decision began: CloudSim does not update it while deciding. */
  readonly startMips: Float64Array;
  /** The same as a load, 0..1. */
  readonly startLoad: Float64Array;

  /** `req` gives each VM's requested MIPS now (at the first placement, its full size). */
  constructor(hosts: readonly HostType[], vms: readonly ScratchVm[], sample: number, req: Float64Array, creating = false) {
    this.hosts = hosts;
    this.vms = vms;
    this.sample = sample;
    this.creating = creating;
    this.req = req;
    this.capacity = Float64Array.from(hosts, hostMips);
    this.guests = hosts.map(() => []);
    this.reqMips = new Float64Array(hosts.length);
    this.ramMb = new Float64Array(hosts.length);
    this.bwMbit = new Float64Array(hosts.length);
    this.startMips = new Float64Array(hosts.length);
    this.startLoad = new Float64Array(hosts.length);
  }

  add(h: number, v: number): void {
    this.guests[h]!.push(v);
    this.reqMips[h]! += this.req[v]!;
    this.ramMb[h]! += this.vms[v]!.type.ramMb;
    this.bwMbit[h]! += this.vms[v]!.type.bwMbit;
  }

  remove(h: number, v: number): void {
    const list = this.guests[h]!;
    const i = list.indexOf(v);
    if (i < 0) throw new Error(`VM ${v} is not on host ${h}`);
    list.splice(i, 1);
    this.reqMips[h]! -= this.req[v]!;
    this.ramMb[h]! -= this.vms[v]!.type.ramMb;
    this.bwMbit[h]! -= this.vms[v]!.type.bwMbit;
  }

  /** Freeze the current loads as the decision's starting point. */
  markStart(): void {
    for (let h = 0; h < this.hosts.length; h++) {
      this.startMips[h] = this.usedMips(h);
      this.startLoad[h] = this.startMips[h]! / this.capacity[h]!;
    }
  }

  /** MIPS the host's guests get now: what they request, up to its capacity. */
  usedMips(h: number): number {
    return Math.min(this.reqMips[h]!, this.capacity[h]!);
  }

  /** Host load history from its present guests, most recent first, up to 30 samples, zero tail trimmed. */
  hostHistory(h: number): number[] {
    const n = Math.min(this.sample + 1, historyLength);
    const hist = new Array<number>(n).fill(0);
    for (const v of this.guests[h]!) {
      const vm = this.vms[v]!;
      const scale = vm.type.mips / this.capacity[h]!;
      for (let i = 0; i < n; i++) hist[i]! += vm.util[this.sample - i]! * scale;
    }
    while (hist.length > 0 && hist.at(-1) === 0) hist.pop();
    return hist;
  }
}
