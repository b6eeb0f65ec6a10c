/**
 * @module What pv and vm guests have in common: the engine (UML, QEMU) is one host
 * process tree, started under a lodge-shim (console and exit status), in a cgroup of its
 * own (the guest's memory plus the engine's overhead), as an unprivileged uid of the
 * guest's own. A driver gives the command line, how to ask the guest to stop, and its
 * control channel; starting, killing, observing and removing are done here.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { cgroupVersion, createCgroup, destroyCgroup, readCpuShares, readUsage, sameCpuWeight, setCgroupLimits, setCpuShares, type CgroupVersion } from '../host/cgroups.js';
import { createTaps, removeHostDevices } from '../network/nic.js';
import type { ConsolePaths, GuestRef, GuestSpec, LimitsAtNextStart, ObservedState, OperationContext, ResolvedLimits, StopOptions, StopOutcome } from './driver.js';
import { guestUid } from './guest-uid.js';
import { consolePaths, observeShim, shimPaths, startShim, waitForExit, type ShimPaths } from './shim.js';

export interface EngineProcessOptions {
  shimBinary: string;
  cgroupParent: string;
  consoleLogBytes: number;
  /** The guest's memory when none is asked for. */
  defaultMemoryBytes: number;
  /** What the engine needs beside the guest's memory. */
  overheadBytes: number;
  /** Variables the engine gets beside lodged's environment. */
  env?: Record<string, string>;
  /** The engine gets a line on fds 4 and 5, which lodge-shim serves on its exec.sock (pv: lodge-execd's serial line). */
  channel?: boolean;
}

export class EngineProcess {
  private readonly cgroups: CgroupVersion = cgroupVersion();
  private readonly options: EngineProcessOptions;

  constructor(options: EngineProcessOptions) {
    this.options = options;
  }

  shim(spec: GuestRef): ShimPaths {
    return shimPaths(path.join(spec.dir, 'shim'));
  }

  uid(spec: GuestSpec): number {
    return guestUid(spec.id);
  }

  memoryBytes(spec: GuestSpec): number {
    return spec.limits.memoryBytes ?? this.options.defaultMemoryBytes;
  }

  private cgroupPath(guest: GuestRef): string {
    return `${this.options.cgroupParent}/${guest.id}`;
  }

  private cgroupLimits(limits: ResolvedLimits) {
    const memoryBytes = (limits.memoryBytes ?? this.options.defaultMemoryBytes) + this.options.overheadBytes;
    return { ...(limits.cpu !== undefined ? { cpu: limits.cpu } : {}), memoryBytes, ...(limits.processes !== undefined ? { processes: limits.processes } : {}) };
  }

  /**
   * Starts `argv` with the guest's taps made; `ready` may check that the engine really came up
   * (and stop waiting when ctx.signal is raised). Nothing is left if either fails or the start is cancelled.
   */
  async start(spec: GuestSpec, argv: string[], ctx: OperationContext, ready: () => Promise<void> = async () => {}): Promise<void> {
    ctx.signal.throwIfAborted();
    const shim = this.shim(spec);
    // what an engine that died left in its cgroup goes first: UML's helpers outlive a SIGKILLed UML and hold its disks
    await destroyCgroup(this.cgroups, this.cgroupPath(spec));
    for (const f of [shim.exit, shim.pidfile]) await rm(f, { force: true });
    await createTaps(spec.nics, this.uid(spec));
    const join = await createCgroup(this.cgroups, this.cgroupPath(spec), this.cgroupLimits(spec.limits)).catch(async (e: unknown) => {
      await removeHostDevices(spec.nics);
      throw e;
    });
    try {
      await startShim({ binary: this.options.shimBinary, paths: shim, consoleSocket: false, logMaxBytes: this.options.consoleLogBytes, join, user: this.uid(spec), argv, env: this.options.env, channel: this.options.channel });
      await ready();
      ctx.signal.throwIfAborted();
    } catch (e) {
      await destroyCgroup(this.cgroups, this.cgroupPath(spec));
      await removeHostDevices(spec.nics);
      throw e;
    }
  }

  /**
   * Asks the guest to stop (`ask` gets the deadline and must not wait past it), waits for it
   * until the timeout, then kills whatever is left with the cgroup.
   */
  async stop(spec: GuestSpec, options: StopOptions, ask: (deadline: number) => Promise<void>): Promise<StopOutcome> {
    const shim = this.shim(spec);
    let killed = false;
    let notAsked: string | undefined;
    if (!options.force && !existsSync(shim.exit)) {
      const deadline = Date.now() + options.timeoutMs;
      // a guest that cannot be asked is still waited for and killed; the outcome says why it was not asked
      await ask(deadline).catch((e: Error) => {
        notAsked = e.message;
      });
      killed = !(await waitForExit(shim, Math.max(0, deadline - Date.now())));
    }
    await destroyCgroup(this.cgroups, this.cgroupPath(spec));
    if (!(await waitForExit(shim, 10_000))) throw new Error(`${spec.name} did not end after SIGKILL`);
    await removeHostDevices(spec.nics);
    return notAsked === undefined ? { killed } : { killed, notAsked };
  }

  observe(spec: GuestRef): Promise<ObservedState> {
    return observeShim(this.shim(spec));
  }

  /** The cgroup's caps change at once; what the engine was started with stays until the next start. */
  async setLimits(spec: GuestSpec, limits: ResolvedLimits): Promise<void> {
    await setCgroupLimits(this.cgroups, this.cgroupPath(spec), this.cgroupLimits(limits));
  }

  console(spec: GuestSpec): ConsolePaths {
    return consolePaths(this.shim(spec));
  }

  usage(guest: GuestRef) {
    return readUsage(this.cgroups, this.cgroupPath(guest));
  }

  cpuShares(guest: GuestRef): number | undefined {
    return readCpuShares(this.cgroups, this.cgroupPath(guest));
  }

  sameCpuShares(a: number, b: number): boolean {
    return sameCpuWeight(this.cgroups, a, b);
  }

  setCpuShares(guest: GuestRef, shares: number): Promise<void> {
    return setCpuShares(this.cgroups, this.cgroupPath(guest), shares);
  }

  async destroy(spec: GuestSpec): Promise<void> {
    await destroyCgroup(this.cgroups, this.cgroupPath(spec));
    await removeHostDevices(spec.nics);
    await rm(spec.dir, { recursive: true, force: true });
  }
}

/** How long a control request may wait when the stop must be done by `deadline`. */
export const untilDeadline = (deadline: number) => Math.max(100, Math.min(5000, deadline - Date.now()));

/** The part of a pv or vm driver that is its EngineProcess's. */
export abstract class EngineDriver {
  protected abstract readonly engine: EngineProcess;

  observe(spec: GuestRef): Promise<ObservedState> {
    return this.engine.observe(spec);
  }

  /** What the engine was started with (memory, vCPUs) applies at the next start; the cgroup's caps change now. */
  setLimits(spec: GuestSpec, limits: ResolvedLimits): Promise<LimitsAtNextStart | void> {
    return this.engine.setLimits(spec, limits);
  }

  console(spec: GuestSpec): ConsolePaths {
    return this.engine.console(spec);
  }

  usage(guest: GuestRef) {
    return this.engine.usage(guest);
  }

  cpuShares(guest: GuestRef): number | undefined {
    return this.engine.cpuShares(guest);
  }

  sameCpuShares(a: number, b: number): boolean {
    return this.engine.sameCpuShares(a, b);
  }

  setCpuShares(guest: GuestRef, shares: number): Promise<void> {
    return this.engine.setCpuShares(guest, shares);
  }

  destroy(spec: GuestSpec): Promise<void> {
    return this.engine.destroy(spec);
  }
}
