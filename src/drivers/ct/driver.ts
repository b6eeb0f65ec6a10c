/**
 * @module System containers (`ct`) through an OCI runtime. Each guest is an OCI bundle
 * in its directory (config.json and an overlay root), created by the runtime under a
 * lodge-shim that holds its console and exit status, so the guest outlives lodged.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, lstat, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LodgeError } from '../../api/errors.js';
import { execOutputCapBytes, type ExecPost, type ExecRequest, type ExecResult } from '../../api/guests.js';
import { boundingSet } from '../../host/capabilities.js';
import { canLimitSwap, cgroupProcesses, cgroupVersion, delegate, processCount, readCpuShares, readMemoryAllocation, readUsage, sameCpuWeight, setCpuShares, setMemoryAllocation, type CgroupUsage, type CgroupVersion } from '../../host/cgroups.js';
import { ExecError, run, spawnPiped } from '../../lib/exec.js';
import { dnsDomain } from '../../network/dnsmasq.js';
import { attachContainerNics } from '../../network/nic.js';
import { overlayRoot, prepareOverlayRoot, removeOverlayRoot, upperDir } from '../../storage/overlay.js';
import type { ConsolePaths, CpuWeighting, DriverCapabilities, ExecProcess, FilePush, GuestDriver, GuestFileInfo, GuestFiles, HealthProbe, HealthProbing, MemoryAllocation, MemoryReading, OperationContext, DriverProbe, GuestRef, GuestSpec, InteractiveCommand, ObservedState, ResolvedLimits, StopOptions, StopOutcome } from '../driver.js';
import { consolePaths, observeShim, runningMain, shimAnswers, shimPaths, startShim, waitForExit } from '../shim.js';
import { cgroupResources, defaultIdMap, ociSpec, systemContainerCapabilities } from './oci-spec.js';
import { hostnameFile, resolvConfFile, writeEtcFiles } from './identity.js';
import { criuUnavailable } from '../../host/criu.js';
import { chooseRuntime, runtimeSignal } from './runtime.js';
import { runtimeExecProcess, shellFailure, startFailure } from './exec-stream.js';
import { pullFile, pushFile, type FilesRoot, type IdShift } from './files.js';

export interface CtDriverOptions {
  /** The runtime's state directory (its --root). */
  runtimeRoot: string;
  shimBinary: string;
  /** cgroup parent of every guest of this lodged, e.g. /lodge. */
  cgroupParent: string;
  consoleLogBytes: number;
  /** lodge-files (shim/lodge-files.c). */
  filesBinary: string;
}

/** How long a `lodge exec` command may run (exec streaming, a later issue, will lift it). */
const execTimeoutMs = 3_600_000;

export class CtDriver implements GuestDriver, GuestFiles, HealthProbing, MemoryAllocation, CpuWeighting {
  readonly kind = 'ct' as const;
  readonly capabilities: DriverCapabilities = {
    rootContent: 'filesystem',
    imageFormats: ['rootfs'],
    launchOptions: ['privileged'],
    rootFiles: { as: 'overlay', upper: upperDir, idMap: defaultIdMap },
    features: {
      exec: true,
      interactiveExec: true,
      pause: true,
      liveLimits: true,
      memoryBalloon: 'a container has no memory of its own to give back: its limit changes at once',
      diskHotplug: 'a container takes and gives back volumes while it is stopped (they are bind mounts made when it starts)',
      volumeMount: true,
      files: true,
      filesStopped: true,
      statefulSnapshot: 'CRIU is probed when lodged starts',
      liveMigration: 'not yet (a later issue)',
      vga: 'a container has no display of its own: lodge console NAME is its terminal',
    },
  };
  private runtime = 'runc';
  private readonly cgroups: CgroupVersion = cgroupVersion();
  private readonly linuxCapabilities = systemContainerCapabilities(boundingSet());
  private readonly swapAccounting = canLimitSwap();
  private readonly options: CtDriverOptions;

  constructor(options: CtDriverOptions) {
    this.options = options;
  }

  async probe(): Promise<DriverProbe> {
    const choice = await chooseRuntime(this.cgroups);
    if (choice.binary) this.runtime = choice.binary;
    const shim = existsSync(this.options.shimBinary) ? '' : `; lodge-shim is missing at ${this.options.shimBinary} (run npm run build)`;
    // a container's memory would be kept by CRIU, through the runtime's checkpoint
    const criu = await criuUnavailable();
    this.capabilities.features.statefulSnapshot = criu
      ? `a container's memory is kept by CRIU, and ${criu}`
      : "CRIU passes its check on this host, but Lodge does not yet checkpoint containers with it";
    return { kind: 'ct', available: !!choice.binary && !shim, engine: choice.reason + shim };
  }

  private runtimeArgv(...args: string[]): string[] {
    return [this.runtime, '--root', this.options.runtimeRoot, ...args];
  }

  private cgroupsPath(guest: GuestRef): string {
    return `${this.options.cgroupParent}/${guest.id}`;
  }

  private bundleConfig(spec: GuestSpec): string {
    return path.join(spec.dir, 'config.json');
  }

  /** Its overlay's lower layer: its image's rootfs with the owners its id map gives (a privileged guest's are the image's own). */
  private lowerDir(spec: GuestSpec): Promise<string> {
    return spec.image.bases.ensure({ as: 'shifted', offset: spec.options.privileged ? 0 : defaultIdMap.hostId });
  }

  async create(spec: GuestSpec, ctx: OperationContext): Promise<{ rootBytes: number }> {
    await mkdir(path.join(spec.dir, 'shim'), { recursive: true });
    const lower = await this.lowerDir(spec);
    ctx.signal.throwIfAborted();
    const root = await this.prepareRoot(spec, lower);
    // its network's dnsmasq answers for the other guests' names
    const dns = spec.nics.length > 0 ? resolvConfFile(spec.nics[0]!.gateway, dnsDomain) : {};
    // the bundle's config.json is written by start, with the limits of that moment
    await writeEtcFiles(lower, root.upper, { ...hostnameFile(spec.name), ...dns });
    return { rootBytes: spec.root?.sizeBytes ?? 0 };
  }

  /** Its /etc/hostname says its new name, as create wrote the first (as LXD's hostname template does on a rename). */
  async renamed(spec: GuestSpec): Promise<void> {
    const lower = await this.lowerDir(spec);
    await writeEtcFiles(lower, (await this.prepareRoot(spec, lower)).upper, hostnameFile(spec.name));
  }

  private prepareRoot(spec: GuestSpec, lower: string) {
    return prepareOverlayRoot(spec.dir, lower, spec.options.privileged ? 0 : defaultIdMap.hostId, spec.root?.dir, spec.limits.diskBytes);
  }

  private config(spec: GuestSpec): Record<string, unknown> {
    return ociSpec({
      hostname: spec.name,
      rootfs: overlayRoot(spec.dir, spec.root?.dir).rootfs,
      init: spec.image.init,
      privileged: spec.options.privileged === true,
      limits: spec.limits,
      cgroupsPath: this.cgroupsPath(spec),
      capabilities: this.linuxCapabilities,
      swapAccounting: this.swapAccounting,
      binds: this.binds(spec),
    });
  }

  /** A fresh volume's filesystem is root's: an unprivileged guest's root gets it, as it gets its own root. */
  private async ownVolumes(spec: GuestSpec): Promise<void> {
    if (spec.options.privileged) return;
    for (const v of spec.volumes) {
      if (!v.mount) continue;
      const st = await lstat(v.mount.hostDir);
      if (st.uid === 0 && st.gid === 0) await chown(v.mount.hostDir, defaultIdMap.hostId, defaultIdMap.hostId);
    }
  }

  async start(spec: GuestSpec, ctx: OperationContext): Promise<void> {
    const paths = shimPaths(path.join(spec.dir, 'shim'));
    // a previous run's container record must go before the id can be used again
    if (existsSync(path.join(this.options.runtimeRoot, spec.id))) await run(this.runtimeArgv('delete', '--force', spec.id), { allowFailure: true });
    for (const f of [paths.exit, paths.pidfile]) await rm(f, { force: true });
    // after a host reboot a sized disk is unmounted; the limits may have changed since create
    const root = await this.prepareRoot(spec, await this.lowerDir(spec));
    await this.ownVolumes(spec);
    await writeFile(this.bundleConfig(spec), JSON.stringify(this.config(spec)));
    ctx.signal.throwIfAborted();
    await startShim({
      binary: this.options.shimBinary,
      paths,
      consoleSocket: true,
      logMaxBytes: this.options.consoleLogBytes,
      overlay: { options: root.options, target: root.rootfs },
      argv: this.runtimeArgv('create', '--bundle', spec.dir, '--console-socket', paths.consoleSocket, '--pid-file', paths.pidfile, spec.id),
    });
    ctx.revert.add('its container', () => run(this.runtimeArgv('delete', '--force', spec.id), { allowFailure: true }));
    if (!spec.options.privileged) await delegate(this.cgroups, this.cgroupsPath(spec), defaultIdMap.hostId);
    // the container's network namespace exists once it is created, before its init runs: its NICs go in now
    if (spec.nics.length > 0) await attachContainerNics(Number(await readFile(paths.pidfile, 'utf8')), spec.nics);
    ctx.signal.throwIfAborted();
    await run(this.runtimeArgv('start', spec.id));
  }

  async stop(spec: GuestSpec, options: StopOptions): Promise<StopOutcome> {
    const paths = shimPaths(path.join(spec.dir, 'shim'));
    let killed = false;
    if (!options.force && !existsSync(paths.exit)) {
      // a frozen init cannot act on the signal: thaw it first
      await run(this.runtimeArgv('resume', spec.id), { allowFailure: true });
      const kill = await run(this.runtimeArgv('kill', spec.id, runtimeSignal(options.stopSignal)), { allowFailure: true });
      // a guest that ended meanwhile cannot be signalled; any other refusal is ours to report
      if (kill.code !== 0 && !existsSync(paths.exit) && !/not running|does not exist/.test(kill.stderr)) {
        throw new Error(`cannot send ${options.stopSignal} to ${spec.name}: ${kill.stderr.trim()}`);
      }
      killed = !(await waitForExit(paths, options.timeoutMs));
    }
    // whatever is left is killed with SIGKILL (a frozen container too: runc thaws it) and its record removed, in one run
    await run(this.runtimeArgv('delete', '--force', spec.id), { allowFailure: true });
    if (!(await waitForExit(paths, 10_000))) throw new Error(`${spec.name} did not end after SIGKILL`);
    return { killed };
  }

  async pause(spec: GuestSpec): Promise<void> {
    await run(this.runtimeArgv('pause', spec.id));
  }

  async resume(spec: GuestSpec): Promise<void> {
    await run(this.runtimeArgv('resume', spec.id));
  }

  observe(spec: GuestRef): Promise<ObservedState> {
    // the kernel ends a container's init that powers off or halts with SIGINT (a reboot: SIGHUP)
    return observeShim(shimPaths(path.join(spec.dir, 'shim')), [2]);
  }

  async setLimits(spec: GuestSpec, limits: ResolvedLimits): Promise<void> {
    const file = path.join(spec.dir, 'resources.json');
    await writeFile(file, JSON.stringify(cgroupResources(limits, this.swapAccounting)));
    await run(this.runtimeArgv('update', '--resources', file, spec.id));
  }

  /** The runtime's exec options for a request: its variables and directory. */
  private execOptions(request: ExecRequest): string[] {
    const args: string[] = [];
    for (const [k, v] of Object.entries(request.env ?? {})) args.push('--env', `${k}=${v}`);
    if (request.cwd) args.push('--cwd', request.cwd);
    return args;
  }

  /**
   * A guest at its limit is refused before runc runs: runc init joins the cgroup (a move, which
   * the limit does not stop) and then fails or not depending on when Go made its threads.
   */
  private async refuseAtProcessLimit(spec: GuestSpec): Promise<void> {
    if (spec.limits.processes !== undefined && ((await processCount(this.cgroups, this.cgroupsPath(spec))) ?? 0) >= spec.limits.processes) {
      throw this.atProcessLimitError(spec);
    }
  }

  async execStream(spec: GuestSpec, request: ExecRequest): Promise<ExecProcess> {
    await this.refuseAtProcessLimit(spec);
    const id = randomUUID();
    const pidFile = path.join(spec.dir, `exec-${id}.pid`);
    const logFile = path.join(spec.dir, `exec-${id}.log`);
    // runc's own errors go to its log as well as stderr: the log says whether the command started
    const argv = this.runtimeArgv('--log', logFile, '--log-format', 'json', 'exec', '--pid-file', pidFile, ...this.execOptions(request), spec.id, ...request.command);
    return runtimeExecProcess({
      child: spawnPiped(argv),
      pidFile,
      logFile,
      guest: spec.name,
      command: request.command[0]!,
      killSession: () => this.killExecGroup(spec, pidFile),
      explain: async (message) => ((await this.atProcessLimit(spec, message)) ? this.atProcessLimitError(spec, new Error(`${this.runtime} exec: ${message}`)) : undefined),
    });
  }

  async exec(spec: GuestSpec, request: ExecPost): Promise<ExecResult> {
    await this.refuseAtProcessLimit(spec);
    // runc writes the command's host pid here: what Lodge kills when it ends the command
    const id = randomUUID();
    const pidFile = path.join(spec.dir, `exec-${id}.pid`);
    const logFile = path.join(spec.dir, `exec-${id}.log`);
    try {
      const result = await run(this.runtimeArgv('--log', logFile, '--log-format', 'json', 'exec', '--pid-file', pidFile, ...this.execOptions(request), spec.id, ...request.command), {
        allowFailure: true,
        input: request.stdin ?? '',
        timeoutMs: execTimeoutMs,
        outputCapBytes: execOutputCapBytes,
      });
      if (result.code !== 0 && (await this.atProcessLimit(spec, result.stderr))) {
        throw this.atProcessLimitError(spec, new Error(`${this.runtime} exec: ${result.stderr.trim().split('\n')[0]}`));
      }
      const failure = result.code !== 0 ? await startFailure(logFile) : undefined;
      if (failure !== undefined) {
        const { exitCode, message } = shellFailure(failure, spec.name, request.command[0]!);
        return { exitCode, stdout: '', stderr: message };
      }
      return { exitCode: result.code, stdout: result.stdout, stderr: result.stderr };
    } catch (e) {
      if (!(e instanceof ExecError) || !e.exceeded) throw e;
      await this.killExecGroup(spec, pidFile);
      throw e.exceeded === 'output'
        ? new LodgeError('UNSUPPORTED', `exec in ${spec.name}: the output of ${request.command[0]} exceeds ${execOutputCapBytes / 1024 / 1024} MiB: the command was killed (exec returns at most that much of stdout and of stderr; write more to a file in the guest)`)
        : new LodgeError('ENGINE_FAILED', `exec in ${spec.name}: ${request.command[0]} ran past ${execTimeoutMs / 1000} s: it was killed`);
    } finally {
      await rm(pidFile, { force: true });
      await rm(logFile, { force: true });
    }
  }

  private atProcessLimitError(spec: GuestSpec, cause?: Error): LodgeError {
    return new LodgeError('CONFLICT', `cannot exec in ${spec.name}: it is at its process limit (--processes ${spec.limits.processes}); end some of its processes or raise the limit`, cause ? { cause } : undefined);
  }

  /**
   * Whether an exec failed because the guest's cgroup has no process to spare: runc's
   * init (Go) then aborts with "failed to create new OS thread", or a fork fails with EAGAIN.
   */
  private async atProcessLimit(spec: GuestSpec, stderr: string): Promise<boolean> {
    if (spec.limits.processes === undefined || !/failed to create new OS thread|resource temporarily unavailable|EAGAIN/i.test(stderr)) return false;
    const processes = await processCount(this.cgroups, this.cgroupsPath(spec));
    return processes !== undefined && processes >= spec.limits.processes - 1;
  }

  /**
   * Kills what an ended exec left in the guest: runc was killed with its process group,
   * but the command in the guest leads a session (and a process group) of its own, named
   * by the pid runc wrote. Only the guest's own processes in that group are signalled:
   * the command itself may be gone, and its pid reused.
   */
  private async killExecGroup(spec: GuestSpec, pidFile: string): Promise<void> {
    const leader = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(leader) || leader <= 1) return;
    for (const pid of await cgroupProcesses(this.cgroups, this.cgroupsPath(spec))) {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== leader) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // it has ended
      }
    }
  }

  pushFile(spec: GuestSpec, guest: ObservedState, push: FilePush): Promise<GuestFileInfo> {
    return this.filesRoot(spec, guest).then((root) => pushFile(this.options.filesBinary, root, this.idShift(spec), push, `cannot push ${push.path} into ${spec.name}`));
  }

  pullFile(spec: GuestSpec, guest: ObservedState, guestPath: string, dest: string, maxBytes: number): Promise<GuestFileInfo> {
    return this.filesRoot(spec, guest).then((root) => pullFile(this.options.filesBinary, root, this.idShift(spec), guestPath, dest, maxBytes, `cannot pull ${guestPath} from ${spec.name}`));
  }

  private idShift(spec: GuestSpec): IdShift {
    return spec.options.privileged ? { base: 0, size: 0 } : { base: defaultIdMap.hostId, size: defaultIdMap.size };
  }

  /** A running guest's root as its init sees it; a stopped one's overlay and volumes, as its start would mount them. */
  private async filesRoot(spec: GuestSpec, guest: ObservedState): Promise<FilesRoot> {
    const owner = String(this.idShift(spec).base);
    if (guest.state === 'running') {
      // its init as its start recorded it: lodge-files enters that process's root or none
      const init = runningMain(shimPaths(path.join(spec.dir, 'shim')));
      if (!init) throw new LodgeError('CONFLICT', `${spec.name} is no longer running`);
      return ['--owner', owner, owner, '--proc', String(init.pid), String(init.startTime)];
    }
    const root = await this.prepareRoot(spec, await this.lowerDir(spec));
    await this.ownVolumes(spec);
    const binds = this.binds(spec).flatMap((b) => ['--bind', b.source, b.destination]);
    return ['--owner', owner, owner, '--root', root.rootfs, '--overlay', root.options, ...binds];
  }

  /** Its volumes as bind mounts, /srv before /srv/data: a volume mounted inside another's path is not hidden by it. */
  private binds(spec: GuestSpec): Array<{ source: string; destination: string }> {
    return spec.volumes
      .flatMap((v) => (v.mount ? [{ source: v.mount.hostDir, destination: v.mount.path }] : []))
      .sort((a, b) => a.destination.split('/').length - b.destination.split('/').length);
  }

  interactive(spec: GuestSpec, request: ExecRequest): InteractiveCommand {
    return { argv: this.runtimeArgv('exec', '--tty', ...this.execOptions(request), spec.id, ...request.command) };
  }

  console(spec: GuestSpec): ConsolePaths {
    return consolePaths(shimPaths(path.join(spec.dir, 'shim')));
  }

  /** Its console's holder alone: a container has no agent (its processes are the host's). */
  async probeHealth(spec: GuestSpec): Promise<HealthProbe> {
    const console = shimAnswers(shimPaths(path.join(spec.dir, 'shim')));
    return console ? { console } : {};
  }

  async memoryMechanism(): Promise<string> {
    return this.cgroups === 'v1' ? 'cgroup limit' : 'memory.high';
  }

  async memoryReading(spec: GuestSpec): Promise<MemoryReading | undefined> {
    const r = readMemoryAllocation(this.cgroups, this.cgroupsPath(spec));
    if (r.allocationBytes === undefined || r.workingSetBytes === undefined) return undefined;
    return { allocationBytes: r.allocationBytes, usedBytes: r.workingSetBytes, ...(r.oomKills !== undefined ? { oomKills: r.oomKills } : {}) };
  }

  /** Straight to its cgroup (runc update would run a program a guest a round): runc's own limit stays in its bundle, the ceiling. */
  setMemoryAllocation(spec: GuestSpec, bytes: number): Promise<void> {
    return setMemoryAllocation(this.cgroups, this.cgroupsPath(spec), bytes, spec.limits.swapBytes);
  }

  usage(guest: GuestRef): Promise<CgroupUsage> {
    return readUsage(this.cgroups, this.cgroupsPath(guest));
  }

  cpuShares(guest: GuestRef): number | undefined {
    return readCpuShares(this.cgroups, this.cgroupsPath(guest));
  }

  sameCpuShares(a: number, b: number): boolean {
    return sameCpuWeight(this.cgroups, a, b);
  }

  /** Straight to its cgroup, as its memory allocation: runc's own figure stays in its bundle. */
  setCpuShares(guest: GuestRef, shares: number): Promise<void> {
    return setCpuShares(this.cgroups, this.cgroupsPath(guest), shares);
  }

  async destroy(spec: GuestSpec): Promise<void> {
    await run(this.runtimeArgv('delete', '--force', spec.id), { allowFailure: true });
    await removeOverlayRoot(spec.dir);
    await rm(spec.dir, { recursive: true, force: true });
  }
}
