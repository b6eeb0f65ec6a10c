/**
 * @module Guests: launch, drive, change and delete them, whatever their kind. Every
 * change takes the guest's lock, checks the state machine, calls the driver and
 * records the outcome; a launch that fails undoes every step it made.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Socket } from 'node:net';
import path from 'node:path';
import { LodgeError } from '../api/errors.js';
import type { AutonomicPolicy, ExecPost, ExecRequest, Priority, ExecResult, Guest, GuestListQuery, GuestOptions, GuestPatch, Limits, GuestsPost, GuestState, GuestStatePut, Machine } from '../api/guests.js';
import type { Forward, ForwardPost } from '../api/networks.js';
import type { Operation } from '../api/operations.js';
import type { DriverRegistry } from '../drivers/registry.js';
import { canAllocateMemory, canHotplugDisks, canProbeHealth, canWeighCpu, hasFiles, hasMemory, hasRenaming, hasRootDiskChanges, hasVga, type RootDiskChanges, type AttachedDisk, type ConsolePaths, type ExecProcess, type FilePush, type GuestDriver, type GuestFileInfo, type GuestFiles, type GuestRef, type GuestSpec, type DriverInfo, type HealthProbe, type InteractiveCommand, type LimitsAtNextStart, type MemoryReading, type ObservedState, type OperationContext, type ResolvedLimits, type TerminalProcess, type TerminalSize } from '../drivers/driver.js';
import { wholeInputExecProcess } from '../drivers/whole-input-exec.js';
import { processAgeMs } from '../host/processes.js';
import type { GuestVolumePost, Volume } from '../api/volumes.js';
import type { GuestCopyPost } from '../api/snapshots.js';
import { launchOptions, type LaunchOption } from '../api/host.js';
import type { GuestKind } from '../api/common.js';
import { formatSize } from '../api/sizes.js';
import { nameMatches } from '../api/name-match.js';
import { missingImageHint } from '../api/image-names.js';
import type { CgroupUsage } from '../host/cgroups.js';
import { Revert } from '../lib/revert.js';
import type { Events } from './events.js';
import type { NetworkService } from './networks.js';
import { checkAction, checkDelete, checkRunning, checkShowing, resultState } from './guest-states.js';
import { memoryBounds, resolveLimits, type MemoryBounds } from './limits.js';
import { KeyedLock } from './locks.js';
import type { Operations } from './operations.js';
import type { StorageService } from './storage.js';
import type { AttachmentRecord, GuestRecord, Store, VolumeRecord } from './store.js';
import type { VolumeService } from './volumes.js';

/** What guests need of their images (ImageService). */
export interface GuestImages {
  /** What a guest made from version `content` of image `name` boots from: the image's disk or ISO, and its bases. */
  forGuest(name: string, content: string): Pick<GuestSpec['image'], 'file' | 'bases'>;
  /** Whether this host has version `content` of image `name` (a backup's root was written over it). */
  hasContent(name: string, content: string): boolean;
  /** Whether the image is being rebuilt: a guest launched from it now would be made from the version on its way out. */
  beingRebuilt(name: string): boolean;
  /** A guest of the image is gone: the bases no guest needs any more go. */
  released(name: string): Promise<void>;
}

export interface GuestServiceDeps {
  store: Store;
  drivers: DriverRegistry;
  images: GuestImages;
  operations: Operations;
  events: Events;
  networks: NetworkService;
  storage: StorageService;
  volumes: VolumeService;
  guestsDir: string;
  hostMemoryBytes: number;
  log: (message: string) => void;
}

const defaultStopTimeoutSeconds = 30;
/** Most volumes one guest has, beside its root. */
const maxVolumes = 4;

/** A guest under its lock, for a service that acts on it (snapshots): what it is, and the steps it may take. */
/** One guest for GET /1.0/metrics: see GuestService.observeAll. */
export interface GuestObservation {
  name: string;
  kind: GuestKind;
  state: GuestState;
  usage?: CgroupUsage;
  nics?: Array<{ name: string; hostDevice: string }>;
  machine?: () => Promise<Machine | undefined>;
}

/** A running guest as the autonomic loop's memory balancing sees it: see GuestService.memoryGuests. */
export interface MemoryGuestView {
  name: string;
  kind: GuestKind;
  autonomic: AutonomicPolicy;
  /** Its engine's process: a new one is a new start. */
  pid?: number;
  /** None for a guest without a memory ceiling (a container without a limit). */
  bounds?: MemoryBounds;
  /** How its allocation changes while it runs; none: its memory is fixed until it stops. */
  mechanism?: string;
  reading?: MemoryReading;
  /** What its cgroup counts, for a guest whose driver gives no reading. */
  usedBytes?: number;
}

/** A running guest as the autonomic loop's health watch sees it: see GuestService.healthGuests. */
export interface HealthGuestView {
  name: string;
  kind: GuestKind;
  /** Its engine's process: a new one is a new start, whose agent must answer again before its silence is news. */
  pid?: number;
  probe: HealthProbe;
}

/** Guests probed at once by the health watch. */
const healthProbesAtOnce = 16;

/** A running guest as the autonomic loop's CPU weighting sees it: see GuestService.cpuGuests. */
export interface CpuGuestView {
  name: string;
  kind: GuestKind;
  autonomic: AutonomicPolicy;
  priority: Priority;
  /** Its limits.cpu, in CPUs. */
  cpuLimit?: number;
  /** Its engine's process: a new one is a new start, whose CPU seconds count from zero. */
  pid?: number;
  cpuSeconds?: number;
  /** Its CPU weight now (cpu.shares' unit); undefined when its cgroup could not be read. */
  shares?: number;
  /** Whether two weights are one to its cgroup (on v2 many shares are one cpu.weight). */
  sameShares: (a: number, b: number) => boolean;
}

export interface LockedGuest {
  record: GuestRecord;
  driver: GuestDriver;
  spec: GuestSpec;
  setState(state: GuestState, reason?: string): void;
  /** Starts its engine, its volumes made ready first: booting, or from the memory a stateful snapshot keeps in `memory`. */
  start(ctx: OperationContext, memory?: string): Promise<void>;
  /** Runs `fn` while nothing in the guest writes its disks: a running guest is paused meanwhile (its state says why). */
  quiesced<T>(why: string, fn: () => Promise<T>): Promise<T>;
}

/** Where a new guest's root comes from when it is not made new: another guest's (a copy), or a backup. */
export interface RootSource {
  /** What its step says it is doing. */
  what: string;
  pool: string;
  sizeBytes: number;
  /** The version of its image's content the root was written over. */
  imageContent: string;
  /** Makes the new guest's root volume (its row is made) with the content in it; `spec` is the guest's to be. */
  fill(volume: VolumeRecord, signal: AbortSignal, spec: GuestSpec): Promise<void>;
}

/** The reason of a guest paused by lodged while its root is copied (a snapshot, a copy, a backup). */
const quiescedPrefix = 'paused by lodged: ';

/** Errors from engines become ENGINE_FAILED with the action named; our own errors pass as they are. */
function wrap(e: unknown, message: string): LodgeError {
  return e instanceof LodgeError ? e : new LodgeError('ENGINE_FAILED', message, { cause: e });
}

/** A guest whose engine started less than this long ago and whose agent does not answer is still booting. */
const bootingMs = 3 * 60_000;

/** How long autostart waits for one guest's start before it goes on to the next. */
const autostartWaitMs = 5 * 60_000;

export class GuestService {
  private readonly lock = new KeyedLock();
  private readonly deps: GuestServiceDeps;
  /** Told of every guest seen to have ended without Lodge asking (the autonomic loop's restarts). */
  private readonly endListeners: Array<(name: string, reason: string, clean: boolean) => void> = [];
  /** Told of every start, stop, restart, pause, resume or delete asked of a guest through the API, even one refused. */
  private readonly askListeners: Array<(name: string) => void> = [];

  constructor(deps: GuestServiceDeps) {
    this.deps = deps;
  }

  private ref(g: GuestRecord): GuestRef {
    const id = `${this.deps.store.instance}-${g.id}`;
    return { id, name: g.name, dir: path.join(this.deps.guestsDir, id) };
  }

  private spec(g: GuestRecord): GuestSpec {
    const image = this.deps.store.image(g.image);
    const format = image?.format ?? 'rootfs';
    const volume = this.deps.store.rootVolume(g.id);
    return {
      ...this.ref(g),
      kind: g.kind,
      image: {
        name: g.image,
        format,
        ...this.deps.images.forGuest(g.image, g.imageContent),
        init: image?.init ?? '/sbin/init',
        stopSignal: image?.stopSignal ?? 'SIGTERM',
      },
      options: g.options,
      ...(volume ? { root: { dir: this.deps.storage.volumePath(volume), sizeBytes: volume.sizeBytes } } : {}),
      volumes: this.deps.store.attachments({ guestId: g.id }).map((a) => this.attachedDisk(a.volume, a.slot, a.path)),
      nics: this.deps.networks.guestNics(g.id),
      limits: resolveLimits(g.limits, Number.MAX_SAFE_INTEGER),
    };
  }

  private record(name: string): GuestRecord {
    const g = this.deps.store.guest(name);
    if (!g) throw new LodgeError('NOT_FOUND', `guest ${name} not found`);
    return g;
  }

  private driver(g: GuestRecord): GuestDriver {
    const d = this.deps.drivers.existing(g.kind);
    if (!d) throw new LodgeError('UNSUPPORTED', `guest kind ${g.kind} of ${g.name} is not supported by this lodged`);
    return d;
  }

  private setState(g: GuestRecord, state: GuestState, reason?: string): void {
    this.deps.store.setGuestState(g.id, state, reason);
    g.state = state;
    if (reason) g.stateReason = reason;
    else delete g.stateReason;
    this.deps.events.emit('lifecycle', g.name, state, reason ? { reason } : undefined);
  }

  /**
   * Brings the record in line with the host: a guest whose process ended is stopped, with why.
   * Outside the guest's lock (a list, a get) it records that only while no action holds the lock
   * and the row is still as it was read: a guest between the stop and the start of a restart is
   * not stopped, and a deleted one is not written again. The action will record what it made.
   */
  private async refresh(g: GuestRecord, underLock = false): Promise<{ pid?: number }> {
    if (g.state !== 'running' && g.state !== 'paused') return {};
    const before = underLock ? undefined : this.lock.mark(g.name);
    const observed = await this.driver(g).observe(this.ref(g));
    if (observed.state === 'running') return { pid: observed.pid };
    if (!underLock) {
      // an action held the lock, or took it while we looked (observing waits for an exit record)
      if (before === undefined || this.lock.mark(g.name) !== before) return {};
      const now = this.deps.store.guest(g.name);
      if (now?.id !== g.id || now.state !== g.state) return {};
    }
    const reason = observed.reason ?? 'it ended';
    this.setState(g, 'stopped', reason);
    for (const listener of this.endListeners) listener(g.name, reason, observed.clean === true);
    return {};
  }

  /** Writes why a guest that is stopped or in error stays so (the loop gave up on it); a guest started meanwhile is left alone. */
  explainStopped(name: string, reason: string): Promise<void> {
    return this.lock.with(name, async () => {
      const g = this.record(name);
      if (g.state === 'stopped' || g.state === 'error') this.setState(g, g.state, reason);
    });
  }

  /** Calls `listener` with each guest seen to have ended on its own, how it ended, and whether that was a shutdown from inside. */
  onEnded(listener: (name: string, reason: string, clean: boolean) => void): void {
    this.endListeners.push(listener);
  }

  /** Calls `listener` with the name of each guest an action is asked of through the API (before it is checked: a refused stop is still a wish). */
  onAsked(listener: (name: string) => void): void {
    this.askListeners.push(listener);
  }

  /** Looks at the running guests that `which` picks, as a list does: those that ended are recorded stopped (and the listeners told). */
  async look(which: (g: GuestRecord) => boolean): Promise<void> {
    await Promise.all(this.deps.store.guests().filter(which).map((g) => this.refresh(g).catch((e: Error) => this.deps.log(`looking at ${g.name}: ${e.message}`))));
  }

  private toApi(g: GuestRecord, extra: Partial<Guest> = {}, volume = this.deps.store.rootVolume(g.id)): Guest {
    return {
      name: g.name,
      kind: g.kind,
      image: g.image,
      state: g.state,
      ...(g.stateReason ? { stateReason: g.stateReason } : {}),
      options: g.options,
      limits: g.limits,
      restart: g.restart,
      autonomic: g.autonomic,
      priority: g.priority,
      autostart: g.autostart,
      autostartOrder: g.autostartOrder,
      ...(volume ? { root: { pool: volume.pool, path: this.deps.storage.volumePath(volume), sizeBytes: volume.sizeBytes } } : {}),
      createdAt: g.createdAt,
      ...extra,
    };
  }

  /** A kind that boots its own kernel needs some memory to do it. */
  private checkKindLimits(kind: GuestKind, limits: ResolvedLimits, asked: Limits): void {
    const memory = this.deps.drivers.info(kind)?.memory;
    memoryBounds(asked, memory);
    if (memory && limits.memoryBytes !== undefined && limits.memoryBytes < memory.minimumBytes) {
      throw new LodgeError('BAD_REQUEST', `limits.memory: ${formatSize(limits.memoryBytes)} is below the ${formatSize(memory.minimumBytes)} a ${kind} guest's kernel needs`);
    }
  }

  /** The guests that match every filter given, each with its NICs; the state is matched after a look at the host. */
  async list(filter: GuestListQuery = {}): Promise<Guest[]> {
    // every NIC and root volume in one query a network and one in all, not one per guest: a list is lodged's hot path
    const nics = this.deps.networks.nicsByGuest();
    const guests = this.deps.store
      .guests()
      .filter((g) => (filter.name === undefined || nameMatches(filter.name, g.name)) && (filter.kind === undefined || g.kind === filter.kind) && (filter.image === undefined || g.image === filter.image))
      .filter((g) => filter.network === undefined || (nics.get(g.id) ?? []).some((n) => n.network === filter.network));
    await Promise.all(guests.map((g) => this.refresh(g)));
    const roots = this.deps.store.rootVolumes();
    return guests.filter((g) => filter.state === undefined || g.state === filter.state).map((g) => this.toApi(g, nics.has(g.id) ? { nics: nics.get(g.id)! } : {}, roots.get(g.id)));
  }

  /**
   * Every guest as metrics read it, without a program run: its state after a look at the
   * host and, while its engine runs, its cgroup's counters, its NICs' host ends, and its
   * machine's counters as a call the caller may cache (a QMP round trip for a vm).
   */
  async observeAll(): Promise<GuestObservation[]> {
    // what takes a query a guest (its spec) is made only for the kinds whose machine is asked
    const nicsOf = this.deps.networks.nicsByGuest();
    return Promise.all(
      this.deps.store.guests().map(async (g): Promise<GuestObservation> => {
        const { pid } = await this.refresh(g);
        const base = { name: g.name, kind: g.kind, state: g.state };
        const driver = this.deps.drivers.existing(g.kind);
        if ((g.state !== 'running' && g.state !== 'paused') || !driver) return base;
        const usage = await driver.usage(this.ref(g)).catch(() => ({}));
        const machine = driver.machine && pid !== undefined ? () => driver.machine!(this.spec(g), pid) : undefined;
        return { ...base, usage, nics: nicsOf.get(g.id) ?? [], ...(machine ? { machine } : {}) };
      }),
    );
  }

  /**
   * Every running guest with its memory bounds, and for those `read` picks (given whether they
   * fit under their ceiling's budget at all), what its driver reads of its memory: the autonomic
   * loop's monitor, which reads an engine (a QMP round trip for a vm) only when it has to.
   */
  async memoryGuests(read: (view: MemoryGuestView) => boolean): Promise<MemoryGuestView[]> {
    const running = this.deps.store.guests().filter((g) => g.state === 'running');
    const views = await Promise.all(
      running.map(async (g): Promise<MemoryGuestView | undefined> => {
        try {
          return await this.memoryGuest(g, read);
        } catch (e) {
          // one guest that cannot be read (a bad record, an engine that errs) leaves the round to the others
          this.deps.log(`autonomic: ${g.name}'s memory cannot be read: ${(e as Error).message}`);
          return undefined;
        }
      }),
    );
    return views.filter((v): v is MemoryGuestView => v !== undefined);
  }

  private async memoryGuest(g: GuestRecord, read: (view: MemoryGuestView) => boolean): Promise<MemoryGuestView | undefined> {
    const { pid } = await this.refresh(g);
    const driver = this.deps.drivers.existing(g.kind);
    if (g.state !== 'running' || !driver) return undefined;
    const bounds = memoryBounds(g.limits, this.deps.drivers.info(g.kind)?.memory);
    const base: MemoryGuestView = { name: g.name, kind: g.kind, autonomic: g.autonomic, ...(pid !== undefined ? { pid } : {}), ...(bounds ? { bounds } : {}) };
    if (canAllocateMemory(driver)) {
      const spec = this.spec(g);
      const mechanism = await driver.memoryMechanism(spec);
      if (mechanism) {
        const view = { ...base, mechanism };
        const reading = g.autonomic === 'on' && read(view) ? await driver.memoryReading(spec) : undefined;
        return { ...view, ...(reading ? { reading } : {}) };
      }
    }
    if (!read(base)) return base;
    const usage = await driver.usage(this.ref(g)).catch((): CgroupUsage => ({}));
    return { ...base, ...(usage.memoryBytes !== undefined ? { usedBytes: usage.memoryBytes } : {}) };
  }

  /** The memory bounds of the guests the store says run, without asking the host: the loop's look while the budget fits. */
  runningMemoryBounds(): Array<{ name: string; kind: GuestKind; bounds?: MemoryBounds }> {
    return this.deps.store
      .guests()
      .filter((g) => g.state === 'running')
      .flatMap((g) => {
        try {
          const bounds = memoryBounds(g.limits, this.deps.drivers.info(g.kind)?.memory);
          return [{ name: g.name, kind: g.kind, ...(bounds ? { bounds } : {}) }];
        } catch {
          // a record the bounds refuse is said by the round that reads it (memoryGuests)
          return [];
        }
      });
  }

  /** Gives a running guest a new memory allocation below its ceiling (the autonomic loop's execute), under its lock if that is free at once: a long action must not hold the loop up; a guest that stopped or left the loop meanwhile refuses it. */
  async setMemoryAllocation(name: string, bytes: number): Promise<void> {
    // an action on the guest going (a stop, a lodge set of its limits or policy) wins: the loop does not wait behind it, and reads it again next round
    if (this.lock.mark(name) === undefined) throw new LodgeError('CONFLICT', `${name} is busy with another action: its memory is left as it is this round`);
    return this.lock.with(name, async () => {
      // read again under the lock: what the round planned from may have changed since
      const g = this.record(name);
      const driver = this.driver(g);
      const bounds = memoryBounds(g.limits, this.deps.drivers.info(g.kind)?.memory);
      if (g.state !== 'running' || !canAllocateMemory(driver)) throw new LodgeError('CONFLICT', `${name} is ${g.state}: its memory is not moved`);
      if (g.autonomic !== 'on') throw new LodgeError('CONFLICT', `${name} was taken out of the loop (--autonomic off): its memory is not moved`);
      if (!bounds || bytes > bounds.ceilingBytes || bytes < bounds.floorBytes) throw new LodgeError('BAD_REQUEST', `${name}: ${formatSize(bytes)} is outside its floor and ceiling`);
      try {
        await driver.setMemoryAllocation(this.spec(g), bytes);
      } catch (e) {
        throw wrap(e, `changing the memory allocation of ${name} failed`);
      }
      this.deps.events.emit('lifecycle', name, 'memory', { allocationBytes: bytes });
    });
  }

  /**
   * Every running guest whose kind weighs its CPU, with its CPU seconds (the driver's one usage
   * reader, as metrics read it) and its CPU weight now: the autonomic loop's CPU monitor.
   */
  async cpuGuests(): Promise<CpuGuestView[]> {
    const running = this.deps.store.guests().filter((g) => g.state === 'running');
    const views = await Promise.all(
      running.map(async (g): Promise<CpuGuestView | undefined> => {
        const { pid } = await this.refresh(g);
        const driver = this.deps.drivers.existing(g.kind);
        if (g.state !== 'running' || !driver || !canWeighCpu(driver)) return undefined;
        const ref = this.ref(g);
        const usage = await driver.usage(ref).catch((): CgroupUsage => ({}));
        const shares = driver.cpuShares(ref);
        const cpuLimit = g.limits.cpu;
        return {
          name: g.name,
          kind: g.kind,
          autonomic: g.autonomic,
          priority: g.priority,
          ...(cpuLimit !== undefined ? { cpuLimit } : {}),
          ...(pid !== undefined ? { pid } : {}),
          ...(usage.cpuSeconds !== undefined ? { cpuSeconds: usage.cpuSeconds } : {}),
          ...(shares !== undefined ? { shares } : {}),
          sameShares: (a, b) => driver.sameCpuShares(a, b),
        };
      }),
    );
    return views.filter((v): v is CpuGuestView => v !== undefined);
  }

  /**
   * Asks each running guest in the loop whether its console's holder and its agent answer (the
   * autonomic loop's health watch), a few guests at a time: a probe of a silent agent waits
   * seconds for nothing, and a host of a thousand guests must not open them all at once.
   */
  async healthGuests(): Promise<HealthGuestView[]> {
    const running = this.deps.store.guests().filter((g) => g.state === 'running' && g.autonomic === 'on');
    const views: HealthGuestView[] = [];
    const probeOne = async (g: GuestRecord): Promise<void> => {
      const { pid } = await this.refresh(g);
      const driver = this.deps.drivers.existing(g.kind);
      if (g.state !== 'running' || !driver || !canProbeHealth(driver)) return;
      try {
        views.push({ name: g.name, kind: g.kind, ...(pid !== undefined ? { pid } : {}), probe: await driver.probeHealth(this.spec(g)) });
      } catch (e) {
        this.deps.log(`autonomic: ${g.name}'s health cannot be probed: ${(e as Error).message}`);
      }
    };
    const queue = [...running];
    const worker = async () => {
      for (let g = queue.shift(); g; g = queue.shift()) await probeOne(g);
    };
    await Promise.all(Array.from({ length: Math.min(healthProbesAtOnce, queue.length) }, worker));
    return views;
  }

  /** Gives a running guest a new CPU weight, and nothing else (the autonomic loop's execute); outside its lock, as its memory allocation. */
  async setCpuShares(name: string, shares: number): Promise<void> {
    const g = this.record(name);
    const driver = this.driver(g);
    if (g.state !== 'running' || !canWeighCpu(driver)) throw new LodgeError('CONFLICT', `${name} is ${g.state}: its CPU weight is not changed`);
    try {
      await driver.setCpuShares(this.ref(g), shares);
    } catch (e) {
      throw wrap(e, `changing the CPU weight of ${name} failed`);
    }
    this.deps.events.emit('lifecycle', name, 'cpu', { shares });
  }

  async get(name: string): Promise<Guest> {
    const g = this.record(name);
    const { pid } = await this.refresh(g);
    const live = g.state === 'running' || g.state === 'paused';
    const driver = this.driver(g);
    const spec = this.spec(g);
    const volume = this.deps.store.rootVolume(g.id);
    const [usage, machine, rootUsed] = await Promise.all([
      live ? driver.usage(spec) : undefined,
      driver.machine?.(spec, live ? pid : undefined),
      volume ? this.deps.storage.volumeUsage(volume).catch(() => undefined) : undefined,
    ]);
    const engine = this.deps.drivers.info(g.kind)?.engine;
    const nics = this.deps.networks.apiNics(g.id);
    const volumes = this.deps.store.attachments({ guestId: g.id }).map((a) => ({ name: a.volume.key.slice('custom/'.length), ...(a.path ? { path: a.path } : {}), ...(a.device ? { device: a.device } : {}) }));
    const root = volume ? { root: { pool: volume.pool, path: this.deps.storage.volumePath(volume), sizeBytes: volume.sizeBytes, ...(rootUsed !== undefined ? { usedBytes: rootUsed } : {}) } } : {};
    return this.toApi(g, { ...(pid ? { pid } : {}), ...(engine ? { engine } : {}), ...(usage ? { usage: { memoryBytes: usage.memoryBytes, processes: usage.processes, cpuSeconds: usage.cpuSeconds } } : {}), ...(machine ? { machine } : {}), ...(nics.length ? { nics } : {}), ...(volumes.length ? { volumes } : {}), ...root });
  }

  launch(req: GuestsPost, from?: RootSource, action = 'guest.launch'): Operation {
    const kind = req.kind ?? 'ct';
    const driver = this.deps.drivers.get(kind);
    const image = this.deps.store.image(req.image);
    if (!image) {
      throw new LodgeError('NOT_FOUND', `image ${req.image} not found: ${missingImageHint(req.image)}`);
    }
    // a copy is made from the version of the image its source was made from, kept while that guest is
    if (!from && this.deps.images.beingRebuilt(req.image)) throw new LodgeError('CONFLICT', `image: ${req.image} is being rebuilt; launch from it once that is done (lodge operation list)`);
    const info = this.deps.drivers.info(kind)!;
    if (!info.imageFormats.includes(image.format)) {
      const bootable = this.deps.drivers.kindsWith((i) => i.imageFormats.includes(image.format));
      throw new LodgeError('BAD_REQUEST', `image: ${req.image} is ${image.format === 'iso' ? 'an ISO' : `a ${image.format} disk`}, which ${kind} guests do not boot${bootable.length ? ` (--kind ${bootable.join(' or ')})` : ''}`);
    }
    const limits = req.limits ?? {};
    const resolved = resolveLimits(limits, this.deps.hostMemoryBytes);
    this.checkKindLimits(kind, resolved, limits);
    const pool = this.deps.storage.poolFor(from?.pool ?? req.pool);
    const rootContent = info.rootContent;
    // what its kind takes is kept; a false flag of another kind's is no option at all
    const asked = req.options ?? {};
    const options: GuestOptions = Object.fromEntries(Object.entries(asked).filter(([k, v]) => v !== undefined && info.launchOptions.includes(k as LaunchOption)));
    for (const option of launchOptions) {
      if (asked[option] === undefined || asked[option] === false || info.launchOptions.includes(option)) continue;
      const takers = this.deps.drivers.kindsWith((i) => i.launchOptions.includes(option));
      throw new LodgeError('BAD_REQUEST', `options.${option}: applies to ${takers.join(' and ')} guests only, not ${kind}`);
    }
    if (this.deps.store.guest(req.name)) throw new LodgeError('CONFLICT', `a guest named ${req.name} exists already`);
    const nics = this.deps.networks.plan(req.networks ?? this.deps.networks.defaultRequests());
    // the rows go in before any host resource: a lodged killed from here on finds the guest in state creating and cleans up
    const g = this.deps.store.transaction(() => {
      const g = this.deps.store.insertGuest({ name: req.name, kind, image: req.image, imageContent: from?.imageContent ?? image.content, state: 'creating', limits, restart: req.restart ?? 'no', ...(req.autonomic ? { autonomic: req.autonomic } : {}), ...(req.priority ? { priority: req.priority } : {}), autostart: req.autostart ?? false, autostartOrder: req.autostartOrder ?? 0, options });
      this.deps.store.insertNics(nics.map((n) => ({ ...n, guestId: g.id })));
      const sizeBytes = from?.sizeBytes ?? this.deps.storage.rootSize(pool, rootContent, resolved.diskBytes);
      this.deps.store.insertVolume({ pool: pool.name, key: this.rootKey(g), content: rootContent, sizeBytes, guestId: g.id });
      return g;
    });
    return this.deps.operations.start(
      action,
      req.name,
      ({ progress, signal }) =>
      this.lock.with(req.name, async () => {
        const spec = this.spec(g);
        if (from) spec.root = { ...spec.root!, copied: true };
        const volume = this.deps.store.rootVolume(g.id)!;
        const revert = new Revert();
        const ctx = { signal, progress, revert };
        // what the engine left that could not be removed keeps its guest, in error: a delete tries again
        let leftover: Error | undefined;
        revert.add('guest record', () => {
          if (!leftover) return this.deleteRecord(g, volume);
          this.setState(g, 'error', `its launch failed, and removing what it made failed too (${leftover.message}): delete it`);
        });
        revert.add('root volume', () => (leftover ? undefined : this.deps.storage.deleteVolumeFiles(volume)));
        revert.add('host resources', () =>
          driver.destroy(spec).catch((e: Error) => {
            leftover = e;
            throw e;
          }),
        );
        try {
          // its name in DNS, and its anti-spoofing entries in force before it first sends
          if (spec.nics.length) progress(5, 'adding its NICs to their networks');
          await this.deps.networks.nicsChanged(spec.nics, 'add');
          signal.throwIfAborted();
          if (from) {
            progress(8, from.what);
            await from.fill(volume, signal, spec);
          } else {
            progress(8, `making its root volume in storage pool ${volume.pool}`);
            await this.deps.storage.createVolume(volume);
          }
          signal.throwIfAborted();
          progress(10, 'preparing the root filesystem');
          const { rootBytes } = await driver.create(spec, ctx);
          if (volume.content === 'block') await this.deps.storage.setBlockSize(volume, rootBytes);
          if (req.start === false) {
            signal.throwIfAborted();
            this.setState(g, 'stopped');
          } else {
            progress(50, `starting ${kind} guest`);
            await driver.start(spec, ctx);
            this.setState(g, 'running');
          }
          revert.success();
        } catch (e) {
          await revert.fail(this.deps.log);
          // its NICs went with its record: their names and firewall entries go too
          if (!leftover) await this.deps.networks.nicsChanged(spec.nics, 'delete');
          throw wrap(e, `launching ${req.name} failed`);
        }
      }),
      { cancellable: true },
    );
  }

  /**
   * A new guest made from a guest, or from one of its snapshots: its kind, image (the same
   * version), options, limits (the snapshot's) and networks, in the same pool; a new MAC and
   * address on each network, and its own name inside it.
   */
  copy(name: string, req: GuestCopyPost): Operation {
    const g = this.record(name);
    const volume = this.rootOf(name);
    const snapshot = req.snapshot !== undefined ? this.deps.store.snapshots(g.id).find((s) => s.name === req.snapshot) : undefined;
    if (req.snapshot !== undefined && !snapshot) throw new LodgeError('NOT_FOUND', `snapshot: ${name} has no snapshot ${req.snapshot} (lodge snapshot list ${name})`);
    const networks = this.networkNames(g.id).map((network) => ({ network }));
    const launch: GuestsPost = { name: req.name, image: g.image, kind: g.kind, limits: snapshot?.limits ?? g.limits, options: g.options, networks, start: req.start ?? false };
    return this.launch(launch, {
      what: `copying the root volume of ${name}${snapshot ? ` as its snapshot ${snapshot.name} keeps it` : ''}`,
      pool: volume.pool,
      sizeBytes: volume.sizeBytes,
      imageContent: g.imageContent,
      fill: async (to, signal) => {
        if (snapshot) return void (await this.deps.storage.copyVolume(volume, snapshot.name, to, signal));
        // the source as it is, quiesced under its own lock meanwhile
        await this.withLocked(name, (source) => {
          if (source.record.id !== g.id) throw new LodgeError('CONFLICT', `${name} was deleted meanwhile`);
          return source.quiesced(`its root being copied to ${req.name}`, () => this.deps.storage.copyVolume(volume, undefined, to, signal));
        });
      },
    });
  }

  /** A guest's root volume; a guest made before storage pools has none to snapshot, copy or back up. */
  rootOf(name: string): VolumeRecord {
    const g = this.record(name);
    if (g.state === 'creating') throw new LodgeError('CONFLICT', `${name} is being made`);
    const volume = this.deps.store.rootVolume(g.id);
    if (!volume) throw new LodgeError('UNSUPPORTED', `${name} was made before storage pools: its root is not a volume (launch a new guest)`);
    return volume;
  }

  /** What this host's driver of a kind declares, if it has one. */
  kindInfo(kind: GuestKind): DriverInfo | undefined {
    return this.deps.drivers.info(kind);
  }

  /** The driver of a kind whose engine tracks the changes of its root disk, if it does. */
  rootDisks(kind: GuestKind): (GuestDriver & RootDiskChanges) | undefined {
    const driver = this.deps.drivers.info(kind) ? this.deps.drivers.get(kind) : undefined;
    return driver && hasRootDiskChanges(driver) ? driver : undefined;
  }

  /** The networks a guest has a NIC on, eth0 first. */
  networkNames(guestId: number): string[] {
    return this.deps.networks.apiNics(guestId).map((n) => n.network);
  }

  /** Whether this host has the version `content` of image `name` (its current one, or an earlier one kept for guests). */
  hasImageContent(name: string, content: string): boolean {
    return this.deps.images.hasContent(name, content);
  }

  /** Runs `fn` under the guest's lock, the guest as the host shows it. */
  withLocked<T>(name: string, fn: (guest: LockedGuest) => Promise<T>): Promise<T> {
    return this.lock.with(name, async () => {
      const g = this.record(name);
      await this.refresh(g, true);
      const driver = this.driver(g);
      const spec = this.spec(g);
      return fn({
        record: g,
        driver,
        spec,
        setState: (state, reason) => this.setState(g, state, reason),
        start: async (ctx, memory) => {
          await this.activateRoot(g);
          if (memory === undefined) return driver.start(spec, ctx);
          if (!hasMemory(driver)) throw new LodgeError('UNSUPPORTED', `the ${g.kind} driver cannot start a guest from its memory`);
          await driver.startFromMemory(spec, memory, ctx);
        },
        quiesced: (why, work) => this.quiesced(g, driver, spec, why, work),
      });
    });
  }

  private async quiesced<T>(g: GuestRecord, driver: GuestDriver, spec: GuestSpec, why: string, work: () => Promise<T>): Promise<T> {
    // a paused or stopped guest writes nothing; a kind that cannot pause gives what its pool catches
    if (g.state !== 'running' || !this.deps.drivers.has(g.kind, 'pause')) return work();
    await driver.pause(spec);
    // said in its state: a lodged killed meanwhile finds it paused, with why, and resumes it at its next start
    this.setState(g, 'paused', `${quiescedPrefix}${why}`);
    let result: T;
    try {
      result = await work();
    } catch (e) {
      // the work's failure is what is said; a resume that fails too leaves it paused, with why
      await driver.resume(spec).then(
        () => this.setState(g, 'running'),
        (r: Error) => this.setState(g, 'paused', `${why} failed, and resuming it failed too (${r.message}): resume it`),
      );
      throw e;
    }
    await driver.resume(spec);
    this.setState(g, 'running');
    return result;
  }

  /** Where a guest's root volume is in its pool: named after its id, as its other host-side resources are. */
  private rootKey(g: GuestRecord): string {
    return `guests/${this.ref(g).id}`;
  }

  /** Removes the guest's rows (its root volume's with it, once its bytes are gone), then the image bases only it needed. */
  private async deleteRecord(g: GuestRecord, volume: VolumeRecord | undefined): Promise<void> {
    this.deps.store.transaction(() => {
      if (volume) this.deps.store.deleteVolume(volume.id);
      this.deps.store.deleteGuest(g.id);
    });
    await this.deps.images.released(g.image).catch((e: Error) => this.deps.log(`image ${g.image}: removing the bases no guest needs failed: ${e.message}`));
  }

  /** Removes every host-side trace of a guest: what its driver made, its volumes' mounts, then its root volume (its other volumes stay). */
  private async destroyGuest(g: GuestRecord, driver: GuestDriver, spec: GuestSpec): Promise<VolumeRecord | undefined> {
    await driver.destroy(spec);
    for (const a of this.deps.store.attachments({ guestId: g.id })) {
      if (a.path) await this.deps.volumes.unmount(a.volume);
      else await this.deps.volumes.release(a.volume);
    }
    const volume = this.deps.store.rootVolume(g.id);
    if (volume) await this.deps.storage.deleteVolumeFiles(volume);
    return volume;
  }

  /** Before its engine starts: a root volume that a reboot unmounted is mounted again, and a container's volumes. */
  private async activateRoot(g: GuestRecord): Promise<void> {
    const volume = this.deps.store.rootVolume(g.id);
    if (volume) await this.deps.storage.activateVolume(volume);
    for (const a of this.deps.store.attachments({ guestId: g.id })) {
      if (a.path) await this.deps.volumes.mount(a.volume);
      else await this.deps.storage.activateVolume(a.volume);
    }
  }

  private attachedDisk(v: VolumeRecord, slot: number, path: string | undefined): AttachedDisk {
    const name = v.key.slice('custom/'.length);
    return { name, slot, file: this.deps.volumes.file(v), ...(path ? { mount: { hostDir: this.deps.volumes.mountDir(v), path } } : {}) };
  }

  /**
   * Attaches a volume: a container sees its filesystem at a path (from its next start), a
   * pv or vm guest a disk (at once when its kind can hot-plug one).
   */
  attachVolume(name: string, req: GuestVolumePost): Promise<Volume> {
    return this.lock.with(name, () =>
      this.deps.volumes.locked(req.volume, async () => {
        const g = this.record(name);
        await this.refresh(g, true);
        const v = this.deps.volumes.record(req.volume);
        const [other] = this.deps.store.attachments({ volumeId: v.id });
        if (other) throw new LodgeError('CONFLICT', `volume ${req.volume} is attached to ${other.guest} already: a volume is one guest's at a time`);
        const mounted = this.deps.drivers.has(g.kind, 'volumeMount');
        const path = mounted ? this.checkVolumePath(g, req) : undefined;
        if (!mounted && req.path) throw new LodgeError('BAD_REQUEST', `path: a ${g.kind} guest sees a volume as a disk, which it mounts itself; leave path out`);
        // a filesystem a guest's kernel wrote is never parsed by the host's
        if (mounted && v.kernelWritten) throw new LodgeError('CONFLICT', `volume ${req.volume} has been the disk of a pv or vm guest: the host's kernel does not mount a filesystem a guest's kernel wrote, so no container can have it`);
        const used = new Set(this.deps.store.attachments({ guestId: g.id }).map((a) => a.slot));
        const slot = Array.from({ length: maxVolumes }, (_, i) => i + 1).find((s) => !used.has(s));
        if (slot === undefined) throw new LodgeError('CONFLICT', `${name} has ${maxVolumes} volumes already, the most a guest has`);
        const driver = this.driver(g);
        const spec = this.spec(g);
        const disk = this.attachedDisk(v, slot, path);
        const device = driver.diskDevice?.(spec, disk);
        const live = g.state === 'running' || g.state === 'paused';
        if (live) this.deps.drivers.require(g.kind, 'diskHotplug', name);
        if (live && !canHotplugDisks(driver)) throw new Error(`the ${g.kind} driver declares diskHotplug but cannot`);
        // the row first, and the volume marked as a guest kernel's before its engine may write it: a
        // failure or a crash from here on leaves it this guest's, never free for a container's mount
        this.deps.store.transaction(() => {
          this.deps.store.insertAttachment({ volumeId: v.id, guestId: g.id, slot, ...(path ? { path } : {}), ...(device ? { device } : {}) });
          if (!mounted) this.deps.store.setKernelWritten(v.id);
        });
        if (live && canHotplugDisks(driver)) {
          try {
            await this.deps.storage.activateVolume(v);
            await driver.attachDisk(spec, disk);
          } catch (e) {
            this.deps.store.deleteAttachment(v.id);
            await this.deps.volumes.release(v).catch(() => {});
            throw wrap(e, `attaching ${req.volume} to ${name} failed`);
          }
        }
        this.deps.events.emit('lifecycle', name, 'updated', { attached: req.volume });
        return this.deps.volumes.get(req.volume);
      }),
    );
  }

  /** Where a container sees a volume: an absolute path that is not its root, nor another volume's. */
  private checkVolumePath(g: GuestRecord, req: GuestVolumePost): string {
    if (!req.path) throw new LodgeError('BAD_REQUEST', `path: a ct guest sees a volume mounted at a path in it: give one (e.g. /data)`);
    const parts = req.path.split('/').filter(Boolean);
    if (parts.length === 0 || parts.some((p) => p === '.' || p === '..')) throw new LodgeError('BAD_REQUEST', `path: ${req.path} must name a directory below / without . or .. in it`);
    const path = `/${parts.join('/')}`;
    const taken = this.deps.store.attachments({ guestId: g.id }).find((a) => a.path === path);
    if (taken) throw new LodgeError('CONFLICT', `path: ${g.name} has volume ${taken.volume.key.slice('custom/'.length)} at ${path} already`);
    return path;
  }

  detachVolume(name: string, volume: string): Promise<void> {
    return this.lock.with(name, () =>
      this.deps.volumes.locked(volume, async () => {
        const g = this.record(name);
        await this.refresh(g, true);
        const v = this.deps.volumes.record(volume);
        const a: AttachmentRecord | undefined = this.deps.store.attachments({ volumeId: v.id })[0];
        if (a?.guestId !== g.id) throw new LodgeError('CONFLICT', `volume ${volume} is not attached to ${name}${a ? ` but to ${a.guest}` : ''}`);
        const driver = this.driver(g);
        if (g.state === 'running' || g.state === 'paused') {
          this.deps.drivers.require(g.kind, 'diskHotplug', name);
          if (!canHotplugDisks(driver)) throw new Error(`the ${g.kind} driver declares diskHotplug but cannot`);
          try {
            await driver.detachDisk(this.spec(g), this.attachedDisk(v, a.slot, a.path));
          } catch (e) {
            throw wrap(e, `detaching ${volume} from ${name} failed`);
          }
        }
        // a container's volume is unmounted before it is free (a busy one stays attached), a disk is root's again
        if (a.path) await this.deps.volumes.unmount(v);
        else await this.deps.volumes.release(v);
        this.deps.store.deleteAttachment(v.id);
        this.deps.events.emit('lifecycle', name, 'updated', { detached: volume });
      }),
    );
  }

  forwards(name: string): Forward[] {
    return this.deps.networks.forwards(this.record(name));
  }

  addForward(name: string, req: ForwardPost): Promise<Forward> {
    return this.lock.with(name, () => this.deps.networks.addForward(this.record(name), req));
  }

  removeForward(name: string, proto: 'tcp' | 'udp', hostPort: number): Promise<void> {
    return this.lock.with(name, () => this.deps.networks.removeForward(this.record(name), proto, hostPort));
  }

  /** `by`: an action lodged takes on its own (the autonomic loop), named and with its reason. */
  changeState(name: string, req: GuestStatePut, by?: { action: string; reason: string }): Operation {
    const g = this.record(name);
    if (!by) for (const l of this.askListeners) l(name);
    checkAction(name, g.state, req.action);
    if (req.action === 'pause' || req.action === 'resume') this.deps.drivers.require(g.kind, 'pause', name);
    return this.deps.operations.start(
      by?.action ?? `guest.${req.action}`,
      name,
      ({ progress, signal }) =>
      this.lock.with(name, async () => {
        const g = this.record(name);
        await this.refresh(g, true);
        checkAction(name, g.state, req.action);
        const driver = this.driver(g);
        const spec = this.spec(g);
        const revert = new Revert();
        const ctx = { signal, progress, revert };
        const timeout = req.timeout ?? defaultStopTimeoutSeconds;
        const stopOptions = { timeoutMs: timeout * 1000, force: req.force ?? false, stopSignal: spec.image.stopSignal };
        let killed = false;
        let notAsked: string | undefined;
        try {
          switch (req.action) {
            case 'start':
              progress(20, 'starting');
              await this.activateRoot(g);
              await driver.start(spec, ctx);
              break;
            case 'stop':
              progress(20, req.force ? 'killing' : `${stopAsk(spec)} for ${timeout} s`);
              ({ killed, notAsked } = await driver.stop(spec, stopOptions));
              break;
            case 'restart':
              progress(20, req.force ? 'killing' : `stopping: ${stopAsk(spec)} for ${timeout} s`);
              ({ killed, notAsked } = await driver.stop(spec, stopOptions));
              signal.throwIfAborted();
              progress(60, 'starting');
              await this.activateRoot(g);
              await driver.start(spec, ctx);
              break;
            case 'pause':
              await driver.pause(spec);
              break;
            case 'resume':
              await driver.resume(spec);
              break;
          }
        } catch (e) {
          await revert.fail(this.deps.log);
          const error = wrap(signal.aborted ? signal.reason : e, `${req.action} of ${name} failed`);
          await this.recordFailure(g, error);
          throw error;
        }
        revert.success();
        // a guest that ignored its stop signal was killed: the operation and its stop reason say so
        const ending = !killed
          ? undefined
          : notAsked !== undefined
            ? `killed after the timeout: it could not be asked to shut down (${notAsked}) and had not ended ${timeout} s later`
            : `killed after the timeout: it had not shut down ${timeout} s after it was asked`;
        this.setState(g, resultState[req.action], req.action === 'stop' ? (ending ?? (req.force ? 'stopped by force' : 'stopped on request')) : undefined);
        return ending;
      }),
      // a start can be called off; a stop, a pause or a resume is done once asked
      { cancellable: req.action === 'start' || req.action === 'restart', ...(by ? { reason: by.reason } : {}) },
    );
  }

  /**
   * After an action failed half-way: a guest whose engine still runs keeps its state; one
   * whose engine failed (a start that failed, a restart that stopped it and could not start
   * it again) is in error, with the failure as the reason, until started or deleted; one
   * that Lodge refused to start (a check before the engine ran) is stopped.
   */
  private async recordFailure(g: GuestRecord, error: LodgeError): Promise<void> {
    const observed = await this.driver(g)
      .observe(this.ref(g))
      .catch(() => ({ state: 'stopped' as const }));
    if (observed.state === 'running') {
      if (g.state !== 'running' && g.state !== 'paused') this.setState(g, 'running');
      return;
    }
    // the reason as the API says the error: with its causes, without the content of a file that failed to parse
    const { message, cause } = error.toBody().error;
    const reason = cause ? `${message}: ${cause}` : message;
    if (error.code === 'ENGINE_FAILED') this.setState(g, 'error', reason);
    else if (g.state !== 'stopped') this.setState(g, 'stopped', reason);
  }

  delete(name: string, force: boolean): Operation {
    const g = this.record(name);
    for (const l of this.askListeners) l(name);
    checkDelete(name, g.state, force);
    return this.deps.operations.start('guest.delete', name, ({ progress }) =>
      this.lock.with(name, async () => {
        const g = this.record(name);
        await this.refresh(g, true);
        checkDelete(name, g.state, force);
        const driver = this.driver(g);
        const spec = this.spec(g);
        let volume: VolumeRecord | undefined;
        try {
          if (g.state === 'running' || g.state === 'paused') {
            progress(20, 'stopping');
            await driver.stop(spec, { timeoutMs: 0, force: true, stopSignal: 'SIGKILL' });
          }
          progress(60, 'removing host resources and its root volume');
          volume = await this.destroyGuest(g, driver, spec);
        } catch (e) {
          throw wrap(e, `deleting ${name} failed`);
        }
        // its port forwards go with its record, and with them their rules
        const forwarded = this.deps.networks.forwards(g).length > 0;
        await this.deleteRecord(g, volume);
        await this.deps.networks.nicsChanged(spec.nics, 'delete');
        if (forwarded) await this.deps.networks.syncFirewall().catch((e: Error) => this.deps.log(`firewall: ${e.message}`));
        this.deps.events.emit('lifecycle', name, 'deleted');
      }),
    );
  }

  /**
   * Gives a stopped guest another name. Its rows (snapshots, schedules, volumes, NICs,
   * forwards) are keyed by its id and its host resources by its id too, so the name is one
   * column; its networks' DNS answers for the new name, a container's /etc/hostname says it.
   * A running guest is refused: its engine and its kernel or hostname were given the name at
   * start. Its backups stay under the name they were taken with (restorable as any guest).
   */
  async rename(name: string, to: string): Promise<Guest> {
    // an operation on it (a start, a backup: not all hold its lock throughout) is refused, not waited for
    const refuseBusy = () => {
      const busy = this.deps.operations.list().find((o) => o.status === 'running' && o.target === name);
      if (busy) throw new LodgeError('CONFLICT', `cannot rename ${name}: ${busy.action} ${busy.id} is running on it`);
    };
    this.record(name);
    if (to === name) throw new LodgeError('BAD_REQUEST', `name: ${name} is its name already; nothing to rename`);
    refuseBusy();
    for (const l of this.askListeners) l(name);
    // `to` is locked too, so no launch takes the name meanwhile; in one order, so two renames crossing cannot wait on each other
    const [first, second] = [name, to].sort();
    return this.lock.with(first!, () =>
      this.lock.with(second!, async () => {
        const g = this.record(name);
        await this.refresh(g, true);
        if (g.state !== 'stopped' && g.state !== 'error') {
          throw new LodgeError('CONFLICT', `cannot rename ${name}: it is ${g.state}, and a running guest's engine and hostname have its name from its start; stop it first (lodge stop ${name})`);
        }
        refuseBusy();
        if (this.deps.store.guest(to)) throw new LodgeError('CONFLICT', `name: a guest named ${to} exists already`);
        // the driver first (it writes the new hostname into the guest), the row last: a failure leaves the guest as it was, with nothing to revert
        const driver = this.driver(g);
        if (hasRenaming(driver)) {
          try {
            await this.activateRoot(g);
            await driver.renamed({ ...this.spec(g), name: to });
          } catch (e) {
            throw wrap(e, `renaming ${name} to ${to} failed`);
          }
        }
        this.deps.store.renameGuest(g.id, to);
        g.name = to;
        // the rename is done: its network's DNS catching up late is the network's trouble, told in the log
        await this.deps.networks
          .nicsChanged(this.deps.networks.guestNics(g.id), 'add')
          .catch((e: Error) => this.deps.log(`${to}: refreshing its name in DNS after the rename from ${name} failed: ${e.message}`));
        this.deps.events.emit('lifecycle', name, 'renamed', { name: to });
        return this.toApi(g);
      }),
    );
  }

  async update(name: string, patch: GuestPatch): Promise<Guest> {
    return this.lock.with(name, async () => {
      const g = this.record(name);
      await this.refresh(g, true);
      // the limits first: a patch whose limits are refused changes nothing
      const later = patch.limits ? await this.updateLimits(g, patch.limits) : undefined;
      if (patch.restart !== undefined && patch.restart !== g.restart) {
        this.deps.store.setGuestRestart(g.id, patch.restart);
        g.restart = patch.restart;
        this.deps.events.emit('lifecycle', name, 'updated', { restart: patch.restart });
      }
      if (patch.autonomic !== undefined && patch.autonomic !== g.autonomic) {
        // out of the loop, a guest holds its ceiling again
        const driver = this.driver(g);
        const bounds = memoryBounds(g.limits, this.deps.drivers.info(g.kind)?.memory);
        if (patch.autonomic === 'off' && g.state === 'running' && bounds && canAllocateMemory(driver) && (await driver.memoryMechanism(this.spec(g)))) {
          await driver.setMemoryAllocation(this.spec(g), bounds.ceilingBytes).catch((e: unknown) => {
            throw wrap(e, `giving ${name} its memory ceiling back failed`);
          });
        }
        this.deps.store.setGuestAutonomic(g.id, patch.autonomic);
        g.autonomic = patch.autonomic;
        this.deps.events.emit('lifecycle', name, 'updated', { autonomic: patch.autonomic });
      }
      // the loop gives a running guest the weight of its new priority at its next round
      if (patch.priority !== undefined && patch.priority !== g.priority) {
        this.deps.store.setGuestPriority(g.id, patch.priority);
        g.priority = patch.priority;
        this.deps.events.emit('lifecycle', name, 'updated', { priority: patch.priority });
      }
      const autostart = { autostart: patch.autostart ?? g.autostart, autostartOrder: patch.autostartOrder ?? g.autostartOrder };
      if (autostart.autostart !== g.autostart || autostart.autostartOrder !== g.autostartOrder) {
        this.deps.store.setGuestAutostart(g.id, autostart.autostart, autostart.autostartOrder);
        Object.assign(g, autostart);
        this.deps.events.emit('lifecycle', name, 'updated', autostart);
      }
      return this.toApi(g, later?.length ? { atNextStart: later } : {});
    });
  }

  private async updateLimits(g: GuestRecord, asked: Limits): Promise<LimitsAtNextStart> {
    const name = g.name;
    if (asked.disk !== undefined && asked.disk !== g.limits.disk) {
      throw new LodgeError('UNSUPPORTED', `limits.disk: the disk size of ${name} is set at launch and cannot change`);
    }
    const limits = { ...g.limits, ...asked };
    const resolved = resolveLimits(limits, this.deps.hostMemoryBytes);
    this.checkKindLimits(g.kind, resolved, limits);
    let later: LimitsAtNextStart = [];
    if (g.state === 'running' || g.state === 'paused') {
      this.deps.drivers.require(g.kind, 'liveLimits', name);
      // a guest whose kernel was given its memory at boot gives some back only through a balloon:
      // a smaller cgroup alone would squeeze the engine under what its guest uses, and wedge it
      const fixed = this.deps.drivers.info(g.kind)?.memory;
      const was = resolveLimits(g.limits, this.deps.hostMemoryBytes).memoryBytes ?? fixed?.defaultBytes;
      if (fixed && was !== undefined && (resolved.memoryBytes ?? fixed.defaultBytes) < was) this.deps.drivers.require(g.kind, 'memoryBalloon', name);
      try {
        later = (await this.driver(g).setLimits(this.spec(g), resolved)) ?? [];
      } catch (e) {
        throw wrap(e, `changing the limits of ${name} failed`);
      }
    }
    this.deps.store.setGuestLimits(g.id, limits);
    g.limits = limits;
    this.deps.events.emit('lifecycle', name, 'updated', { limits, ...(later.length ? { atNextStart: later.map((l) => l.limit) } : {}) });
    return later;
  }

  /** A running guest whose kind has `feature`, to exec in: its driver and spec, and its engine's pid. */
  private async execTarget(name: string, feature: 'exec' | 'interactiveExec'): Promise<{ driver: GuestDriver; spec: GuestSpec; pid?: number }> {
    const g = this.record(name);
    const { pid } = await this.refresh(g);
    checkRunning(name, g.state, 'exec in');
    this.deps.drivers.require(g.kind, feature, name);
    return { driver: this.driver(g), spec: this.spec(g), ...(pid !== undefined ? { pid } : {}) };
  }

  /**
   * An agent that does not answer a guest started a short while ago: it may still be booting,
   * which is said beside the agent's silence, with how to wait for it (an image without an
   * agent, or one whose agent died, is silent just as well).
   */
  private stillBooting(name: string, pid: number | undefined, e: unknown): unknown {
    const age = pid === undefined ? undefined : processAgeMs(pid);
    if (!(e instanceof LodgeError) || e.code !== 'UNAVAILABLE' || age === undefined || age > bootingMs) return e;
    return new LodgeError('UNAVAILABLE', `${e.message} (${name} started ${Math.round(age / 1000)} s ago: it may still be booting; lodge start --wait or launch --wait waits for it)`, { cause: e });
  }

  async exec(name: string, req: ExecPost): Promise<ExecResult> {
    const { driver, spec, pid } = await this.execTarget(name, 'exec');
    return driver.exec(spec, req).catch((e: unknown) => {
      throw this.stillBooting(name, pid, e);
    });
  }

  /** The command with its input and output as streams; a kind whose exec runs whole is run so behind the same streams. */
  async execStream(name: string, req: ExecRequest): Promise<ExecProcess> {
    const { driver, spec, pid } = await this.execTarget(name, 'exec');
    const booting = (e: unknown) => {
      throw this.stillBooting(name, pid, e);
    };
    const proc = await driver.execStream?.(spec, req).catch(booting);
    if (proc) {
      proc.exit = proc.exit.catch(booting);
      return proc;
    }
    return wholeInputExecProcess(async (stdin, stdout, stderr) => {
      const r = await driver.exec(spec, { ...req, stdin }).catch(booting);
      stdout.write(r.stdout);
      stderr.write(r.stderr);
      return r.exitCode;
    }, `exec in ${name}`);
  }

  /** The command on a terminal: a pty lodged holds (ct), or one of the guest's own (vm, pv). */
  async interactive(name: string, req: ExecRequest, size: TerminalSize): Promise<InteractiveCommand | TerminalProcess> {
    const { driver, spec, pid } = await this.execTarget(name, 'interactiveExec');
    if (!driver.execTerminal) return driver.interactive!(spec, req);
    const proc = await driver.execTerminal(spec, req, size).catch((e: unknown) => {
      throw this.stillBooting(name, pid, e);
    });
    proc.exit = proc.exit.catch((e: unknown) => {
      throw this.stillBooting(name, pid, e);
    });
    return proc;
  }

  /** Writes a file into a guest (`push.source` is lodged's: the caller removes it). */
  pushFile(name: string, push: FilePush): Promise<GuestFileInfo> {
    return this.withFiles(name, 'push files into', (driver, spec, observed) => driver.pushFile(spec, observed, push));
  }

  /** Copies a file of a guest into `dest`, a new file of lodged's (the caller removes it). */
  pullFile(name: string, guestPath: string, dest: string, maxBytes: number): Promise<GuestFileInfo> {
    return this.withFiles(name, 'pull files from', (driver, spec, observed) => driver.pullFile(spec, observed, guestPath, dest, maxBytes));
  }

  /**
   * Runs a file copy on a running guest (as an exec does, beside whatever else it does), or
   * on a stopped one under its lock, so that no start or delete comes in the middle.
   */
  private async withFiles<T>(name: string, what: string, copy: (driver: GuestDriver & GuestFiles, spec: GuestSpec, observed: ObservedState) => Promise<T>): Promise<T> {
    const filesOf = (g: GuestRecord) => {
      const driver = this.driver(g);
      if (!hasFiles(driver)) throw new LodgeError('UNSUPPORTED', `the ${g.kind} driver declares files but has no way to copy them`);
      return driver;
    };
    const g = this.record(name);
    const { pid } = await this.refresh(g);
    if (g.state === 'running') {
      this.deps.drivers.require(g.kind, 'files', name);
      return copy(filesOf(g), this.spec(g), { state: 'running', ...(pid ? { pid } : {}) });
    }
    return this.lock.with(name, async () => {
      const g = this.record(name);
      await this.refresh(g, true);
      if (g.state !== 'stopped') {
        throw new LodgeError('CONFLICT', `cannot ${what} ${name}: it is ${g.state === 'error' ? 'in error' : g.state}${g.state === 'paused' ? ' (resume it first)' : ''}`);
      }
      this.deps.drivers.require(g.kind, 'filesStopped', name);
      await this.activateRoot(g);
      return copy(filesOf(g), this.spec(g), { state: 'stopped' });
    });
  }

  async console(name: string, live: boolean): Promise<ConsolePaths> {
    const g = this.record(name);
    await this.refresh(g);
    if (live && g.state !== 'running' && g.state !== 'paused') {
      throw new LodgeError('CONFLICT', `cannot attach to the console of ${name}: it is ${g.state} (console --log shows what it printed)`);
    }
    return this.driver(g).console(this.spec(g));
  }

  /** A connection to the guest's VGA screen (VNC), which the caller ends. */
  async vga(name: string): Promise<Socket> {
    const g = this.record(name);
    await this.refresh(g);
    this.deps.drivers.require(g.kind, 'vga', name);
    checkShowing(name, g.state);
    const driver = this.driver(g);
    if (!hasVga(driver)) throw new LodgeError('UNSUPPORTED', `the ${g.kind} driver declares a VGA screen but has no way to show it`);
    return driver.connectVga(this.spec(g));
  }

  /**
   * At start: a guest left in `creating` was a launch that lodged did not finish, and is
   * removed whole; every other guest is adopted as the host shows it. Answers the autostart
   * guests that were running and whose engine had ended (the host rebooted, or lodged and its
   * guests were killed), in their order: for autostart().
   */
  async reconcile(): Promise<GuestRecord[]> {
    const toStart: GuestRecord[] = [];
    for (const g of this.deps.store.guests()) {
      try {
        if (g.state === 'creating') {
          this.deps.log(`removing ${g.name}: its launch was interrupted`);
          const spec = this.spec(g);
          await this.deleteRecord(g, await this.destroyGuest(g, this.driver(g), spec));
          // its names in DNS and its anti-spoofing entries go with it
          await this.deps.networks.nicsChanged(spec.nics, 'delete');
          continue;
        }
        if (g.state === 'stopped' || g.state === 'error') {
          // a start that lodged did not finish can have left the engine half-started: end it, the guest stays stopped
          const driver = this.driver(g);
          if ((await driver.observe(this.ref(g))).state === 'running') {
            this.deps.log(`${g.name}: ${g.state}, but its engine runs (a start was interrupted): stopping it`);
            await driver.stop(this.spec(g), { timeoutMs: 0, force: true, stopSignal: 'SIGKILL' });
          }
        }
        if (g.state === 'paused' && g.stateReason?.startsWith(quiescedPrefix) && (await this.driver(g).observe(this.ref(g))).state === 'running') {
          // a lodged killed while the guest was paused for a copy of its root: what was being made is swept, the guest goes on
          this.deps.log(`${g.name}: resuming it: ${g.stateReason}, when lodged stopped`);
          await this.driver(g).resume(this.spec(g));
          this.setState(g, 'running');
        }
        const before = g.state;
        await this.refresh(g, true);
        this.deps.log(`${g.name}: ${before === g.state ? `adopted, ${g.state}` : `${before} → ${g.state} (${g.stateReason})`}`);
        if (g.autostart && (before === 'running' || before === 'paused') && g.state === 'stopped') toStart.push(g);
      } catch (e) {
        this.deps.log(`reconciling ${g.name} failed: ${(e as Error).message}`);
      }
    }
    return toStart.sort((a, b) => a.autostartOrder - b.autostartOrder || a.name.localeCompare(b.name));
  }

  /**
   * Starts `guests` (reconcile's answer) one after the other, each once the one before has
   * started or failed and `delayMs` more have passed: an operation `guest.autostart` each,
   * with its reason, in lodged's log and as an event. One that is no longer stopped (its
   * restart policy started it, or an admin did) is left alone.
   */
  async autostart(guests: GuestRecord[], delayMs: number): Promise<void> {
    for (const [i, { name }] of guests.entries()) {
      if (i > 0) await sleep(delayMs);
      const g = this.deps.store.guest(name);
      if (!g?.autostart || g.state !== 'stopped') continue;
      const reason = `autostart ${i + 1} of ${guests.length} (order ${g.autostartOrder}): it was running when lodged last ran, and had ended without being stopped`;
      this.deps.log(`${name}: ${reason}: starting it`);
      this.deps.events.emit('lifecycle', name, 'autostart', { order: g.autostartOrder, position: i + 1, of: guests.length });
      try {
        const op = this.changeState(name, { action: 'start' }, { action: 'guest.autostart', reason });
        const end = await this.deps.operations.wait(op.id, autostartWaitMs);
        if (end.status !== 'success') this.deps.log(`${name}: autostart: ${end.status}: ${end.error?.message ?? ''}`);
      } catch (e) {
        this.deps.log(`${name}: autostart refused: ${(e as Error).message}`);
      }
    }
  }
}

/** What asking a guest to stop does, by kind: only a container's init gets the image's stop signal. */
function stopAsk(spec: GuestSpec): string {
  return spec.kind === 'ct' ? `asking init to stop (${spec.image.stopSignal})` : 'asking it to shut down';
}
