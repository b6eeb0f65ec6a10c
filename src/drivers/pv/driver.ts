/**
 * @module Paravirtual guests (`pv`): User-Mode Linux, a Linux kernel ported to run as
 * host processes. One linux.uml per guest under a lodge-shim (its console and exit
 * status), in its own cgroup, as an unprivileged host user of its own; its root disk is
 * a COW file over the image's shared ext4 base; it is driven through the mconsole, and
 * `lodge exec` reaches it through lodge-agent.
 */
import { existsSync } from 'node:fs';
import { chown, mkdir, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as UnixDgram from 'unix-dgram';
import { LodgeError } from '../../api/errors.js';
import type { ExecPost, ExecResult } from '../../api/guests.js';
import { cgroupVersion, createCgroup, destroyCgroup, readUsage, setCgroupLimits, type CgroupVersion } from '../../host/cgroups.js';
import { run } from '../../lib/exec.js';
import { ensureExt4Base } from '../../storage/ext4-base.js';
import type { ConsolePaths, DriverInfo, GuestDriver, GuestSpec, InteractiveCommand, ObservedState, ResolvedLimits, StopOptions } from '../driver.js';
import { guestUid } from '../guest-uid.js';
import { consolePaths, observeShim, shimPaths, startShim, waitForExit } from '../shim.js';
import { AgentChannel } from './agent.js';
import { readCowHeader } from './cow.js';
import { umlArgv } from './argv.js';
import { Mconsole } from './mconsole.js';

export interface PvDriverOptions {
  kernel: string;
  modulesDir: string;
  shimBinary: string;
  cgroupParent: string;
  consoleLogBytes: number;
}

const mib = 1024 * 1024;
export const pvMemory = { minimumBytes: 32 * mib, defaultBytes: 128 * mib } as const;
/** What the UML processes need beyond the guest's own memory (page tables, helpers). */
const hostOverheadBytes = 64 * mib;

export class PvDriver implements GuestDriver {
  readonly kind = 'pv' as const;
  private readonly cgroups: CgroupVersion = cgroupVersion();
  private readonly bases = new Map<string, Promise<string>>();
  private readonly options: PvDriverOptions;
  private unix: typeof UnixDgram | undefined;

  constructor(options: PvDriverOptions) {
    this.options = options;
  }

  async probe(): Promise<DriverInfo> {
    if (!existsSync(this.options.kernel)) return { kind: 'pv', available: false, engine: `${this.options.kernel} is missing: install the Debian package user-mode-linux` };
    if (!existsSync(this.options.shimBinary)) return { kind: 'pv', available: false, engine: `lodge-shim is missing at ${this.options.shimBinary} (run npm run build)` };
    try {
      this.unix = createRequire(import.meta.url)('unix-dgram') as typeof UnixDgram;
    } catch (e) {
      return { kind: 'pv', available: false, engine: `the npm module unix-dgram does not load (${(e as Error).message}): run npm ci` };
    }
    const version = (await run([this.options.kernel, '--version'], { allowFailure: true, timeoutMs: 10_000 })).stdout.trim();
    return { kind: 'pv', available: true, engine: `User-Mode Linux ${version || this.options.kernel}`, memory: pvMemory };
  }

  private paths(spec: GuestSpec) {
    const pv = path.join(spec.dir, 'pv');
    return { pv, cow: path.join(pv, 'root.cow'), umid: 'uml', mconsole: path.join(pv, 'uml', 'mconsole'), agent: new AgentChannel(path.join(pv, 'agent')), shim: shimPaths(path.join(spec.dir, 'shim')) };
  }

  private uid(spec: GuestSpec): number {
    return guestUid(spec.id);
  }

  private cgroupPath(spec: GuestSpec): string {
    return `${this.options.cgroupParent}/${spec.id}`;
  }

  private mconsole(spec: GuestSpec): Mconsole {
    if (!this.unix) throw new LodgeError('UNAVAILABLE', 'the pv driver was not probed');
    return new Mconsole(this.paths(spec).mconsole, this.paths(spec).pv, this.unix);
  }

  private base(spec: GuestSpec): Promise<string> {
    const key = spec.image.rootfs;
    let pending = this.bases.get(key);
    if (!pending) {
      // the UML kernel's modules go into the shared base: every guest has them, on disk once
      pending = ensureExt4Base(key, { 'lib/modules': this.options.modulesDir }).finally(() => this.bases.delete(key));
      this.bases.set(key, pending);
    }
    return pending;
  }

  private cgroupLimits(limits: ResolvedLimits) {
    const memoryBytes = (limits.memoryBytes ?? pvMemory.defaultBytes) + hostOverheadBytes;
    return { ...(limits.cpu !== undefined ? { cpu: limits.cpu } : {}), memoryBytes, ...(limits.processes !== undefined ? { processes: limits.processes } : {}) };
  }

  async create(spec: GuestSpec): Promise<void> {
    if (spec.privileged) throw new LodgeError('BAD_REQUEST', 'privileged: applies to ct guests only (a pv guest has its own kernel)');
    if (spec.limits.diskBytes !== undefined) throw new LodgeError('UNSUPPORTED', 'limits.disk: not yet for pv guests (their COW file grows up to the image size)');
    const p = this.paths(spec);
    await mkdir(p.pv, { recursive: true });
    await mkdir(p.shim.dir, { recursive: true });
    await chown(p.pv, this.uid(spec), this.uid(spec));
    await p.agent.prepare(this.uid(spec));
    await this.base(spec);
  }

  /** A COW file belongs to the base it was written over: refuse a base made again since. */
  private async checkCow(spec: GuestSpec, cow: string, base: string): Promise<void> {
    if (!existsSync(cow)) return;
    const header = await readCowHeader(cow);
    const st = await stat(base);
    if (header && (header.backingFile !== base || header.mtime !== Math.floor(st.mtimeMs / 1000) || header.size !== st.size)) {
      throw new LodgeError(
        'CONFLICT',
        `cannot start ${spec.name}: its disk was written over an earlier base of image ${spec.image.name}, which has been made again since (${base}); delete the guest and launch it anew`,
      );
    }
  }

  async start(spec: GuestSpec): Promise<void> {
    const p = this.paths(spec);
    const base = await this.base(spec);
    await this.checkCow(spec, p.cow, base);
    for (const f of [p.shim.exit, p.shim.pidfile]) await rm(f, { force: true });
    await rm(path.join(p.pv, 'uml'), { recursive: true, force: true });
    const join = await createCgroup(this.cgroups, this.cgroupPath(spec), this.cgroupLimits(spec.limits));
    try {
      await startShim({
        binary: this.options.shimBinary,
        paths: p.shim,
        consoleSocket: false,
        logMaxBytes: this.options.consoleLogBytes,
        join,
        user: this.uid(spec),
        argv: umlArgv({
          kernel: this.options.kernel,
          umlDir: p.pv,
          umid: p.umid,
          memoryBytes: spec.limits.memoryBytes ?? pvMemory.defaultBytes,
          cow: p.cow,
          base,
          init: spec.image.init,
          hostname: spec.name,
          hostfsRoot: p.agent.dir,
        }),
      });
    } catch (e) {
      await destroyCgroup(this.cgroups, this.cgroupPath(spec));
      throw e;
    }
  }

  async stop(spec: GuestSpec, options: StopOptions): Promise<void> {
    const p = this.paths(spec);
    if (!options.force && !existsSync(p.shim.exit)) {
      const mc = this.mconsole(spec);
      const deadline = Date.now() + options.timeoutMs;
      // a hung guest does not answer: never wait on the mconsole longer than the stop may take
      const ask = (command: string) => mc.command(command, Math.max(100, Math.min(5000, deadline - Date.now()))).catch(() => {});
      // a paused UML answers only the mconsole: let it run so that init can act
      await ask('go');
      await ask('cad');
      await waitForExit(p.shim, Math.max(0, deadline - Date.now()));
    }
    // whatever is left (a hung guest, or force) dies with its cgroup
    await destroyCgroup(this.cgroups, this.cgroupPath(spec));
    if (!(await waitForExit(p.shim, 10_000))) throw new Error(`${spec.name} did not end after SIGKILL`);
  }

  async pause(spec: GuestSpec): Promise<void> {
    await this.mconsole(spec).stop();
  }

  async resume(spec: GuestSpec): Promise<void> {
    await this.mconsole(spec).go();
  }

  observe(spec: GuestSpec): Promise<ObservedState> {
    return observeShim(this.paths(spec).shim);
  }

  async setLimits(spec: GuestSpec, limits: ResolvedLimits): Promise<void> {
    // the guest kernel's own memory (mem=) is fixed while it runs: a new value applies at the next start
    await setCgroupLimits(this.cgroups, this.cgroupPath(spec), this.cgroupLimits(limits));
  }

  exec(spec: GuestSpec, request: ExecPost): Promise<ExecResult> {
    return this.paths(spec).agent.exec(spec.name, request);
  }

  interactive(spec: GuestSpec): InteractiveCommand {
    throw new LodgeError('UNSUPPORTED', `exec -t is not available in pv guests yet: lodge console ${spec.name} is their terminal`);
  }

  console(spec: GuestSpec): ConsolePaths {
    return consolePaths(this.paths(spec).shim);
  }

  usage(spec: GuestSpec) {
    return readUsage(this.cgroups, this.cgroupPath(spec));
  }

  async destroy(spec: GuestSpec): Promise<void> {
    await destroyCgroup(this.cgroups, this.cgroupPath(spec));
    await rm(spec.dir, { recursive: true, force: true });
  }
}
