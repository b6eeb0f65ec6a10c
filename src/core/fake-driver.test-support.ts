/**
 * @module A fake GuestDriver for unit tests of core: it keeps its guests in memory (as
 * the engine would see them), records every call it gets, can be told to fail at a
 * method or to hang there until the test releases it, and declares its capabilities as
 * a real driver does. Its root content is `block`, so a dir pool makes its root volume
 * without a mount; it writes a file in the guest's directory and one in its root volume,
 * so a test sees whether a failed launch left them behind. Never used outside tests.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { GuestKind } from '../api/common.js';
import type { ExecPost, ExecRequest, ExecResult } from '../api/guests.js';
import type { GuestFeature } from '../api/host.js';
import type { AttachedDisk, ConsolePaths, DiskHotplug, DriverCapabilities, DriverProbe, GuestDriver, GuestRef, GuestSpec, InteractiveCommand, ObservedState, OperationContext, ResolvedLimits, StopOptions } from '../drivers/driver.js';

/** The methods a test can make fail or hang. */
export type FakeMethod = 'create' | 'start' | 'stop' | 'pause' | 'resume' | 'observe' | 'setLimits' | 'exec' | 'destroy' | 'attachDisk' | 'detachDisk';

/** A call the fake got: the method, the guest's name, and the disk for attach and detach. */
export interface FakeCall {
  method: FakeMethod;
  guest: string;
  disk?: AttachedDisk;
}

/** What the fake's engine shows of a guest. */
interface FakeGuest {
  name: string;
  engine: 'running' | 'paused' | 'ended';
  /** Why the engine ended, when the test ended it. */
  reason?: string;
}

/** A method held until the test releases it: `reached` settles once a call got there. */
export interface Hang {
  reached: Promise<void>;
  release: () => void;
}

/** The root size the fake's create says, as a vm driver says its disk's. */
export const fakeRootBytes = 1024 ** 3;

const allFeatures: Record<GuestFeature, true | string> = {
  exec: true,
  interactiveExec: true,
  pause: true,
  liveLimits: true,
  memoryBalloon: 'the fake has no balloon',
  diskHotplug: 'the fake cannot plug a disk into a running guest',
  volumeMount: 'the fake sees volumes as disks',
  files: 'the fake keeps no files',
  filesStopped: 'the fake keeps no files',
  statefulSnapshot: 'the fake keeps no memory to snapshot',
  liveMigration: 'the fake does not migrate',
  vga: 'the fake has no screen',
};

export class FakeDriver implements GuestDriver {
  readonly kind: GuestKind;
  readonly capabilities: DriverCapabilities;
  readonly calls: FakeCall[] = [];
  /** The guests its engine knows, by the spec's id. */
  readonly guests = new Map<string, FakeGuest>();
  private readonly failures = new Map<FakeMethod, Error>();
  private readonly hangs = new Map<string, { reach: () => void; released: Promise<void> }>();
  interactive?: (spec: GuestSpec, request: ExecRequest) => InteractiveCommand;

  constructor(kind: GuestKind, features: Partial<Record<GuestFeature, true | string>> = {}) {
    this.kind = kind;
    this.capabilities = { rootContent: 'block', imageFormats: ['rootfs'], launchOptions: [], features: { ...allFeatures, ...features } };
    // as a real driver: the method exists exactly when the feature is declared
    if (this.capabilities.features.interactiveExec === true) this.interactive = (_spec, request) => ({ argv: ['fake-exec', ...request.command] });
  }

  /** The next call of `method` throws `error` (create after making its files, as a half-done create). */
  failNext(method: FakeMethod, error = new Error(`the fake failed at ${method}`)): Error {
    this.failures.set(method, error);
    return error;
  }

  /** The next call of `method` on guest `name` waits until released. */
  hang(method: FakeMethod, name: string): Hang {
    let reach!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((resolve) => (reach = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.hangs.set(`${method} ${name}`, { reach, released });
    return { reached, release };
  }

  /** The methods called on guest `name`, in order (observe left out unless asked). */
  callsOf(name: string, withObserve = false): FakeMethod[] {
    return this.calls.filter((c) => c.guest === name && (withObserve || c.method !== 'observe')).map((c) => c.method);
  }

  /** Makes the fake's engine know a guest, as one lodged left running or stopped. */
  adopt(ref: GuestRef, engine: FakeGuest['engine'], reason?: string): void {
    this.guests.set(ref.id, { name: ref.name, engine, ...(reason ? { reason } : {}) });
  }

  /** Records the call, then fails or hangs if told to. */
  protected async enter(method: FakeMethod, guest: string, disk?: AttachedDisk): Promise<void> {
    this.calls.push({ method, guest, ...(disk ? { disk } : {}) });
    const hang = this.hangs.get(`${method} ${guest}`);
    if (hang) {
      this.hangs.delete(`${method} ${guest}`);
      hang.reach();
      await hang.released;
    }
    if (method === 'create') return;
    this.throwIfFailing(method);
  }

  private throwIfFailing(method: FakeMethod): void {
    const error = this.failures.get(method);
    if (!error) return;
    this.failures.delete(method);
    throw error;
  }

  private known(spec: GuestRef): FakeGuest {
    const g = this.guests.get(spec.id);
    if (!g) throw new Error(`the fake has no guest ${spec.id}`);
    return g;
  }

  /** Set: its guests' kernels get a fixed amount of memory at boot, as pv and vm guests do. */
  memory: DriverProbe['memory'];

  async probe(): Promise<DriverProbe> {
    return { kind: this.kind, available: true, engine: `fake ${this.kind} engine`, ...(this.memory ? { memory: this.memory } : {}) };
  }

  async create(spec: GuestSpec, ctx: OperationContext): Promise<{ rootBytes: number }> {
    await this.enter('create', spec.name);
    await mkdir(spec.dir, { recursive: true });
    await writeFile(path.join(spec.dir, 'config.json'), JSON.stringify({ id: spec.id }));
    if (spec.root) await writeFile(path.join(spec.root.dir, 'disk.qcow2'), '');
    this.guests.set(spec.id, { name: spec.name, engine: 'ended' });
    this.throwIfFailing('create');
    ctx.signal.throwIfAborted();
    return { rootBytes: fakeRootBytes };
  }

  /** As an engine's start: running, then the engine killed by the revert if the start is called off after. */
  async start(spec: GuestSpec, ctx: OperationContext): Promise<void> {
    const g = this.known(spec);
    g.engine = 'running';
    delete g.reason;
    ctx.revert.add('its engine', () => (g.engine = 'ended'));
    await this.enter('start', spec.name);
    ctx.signal.throwIfAborted();
  }

  async stop(spec: GuestSpec, _options: StopOptions): Promise<{ killed: boolean }> {
    await this.enter('stop', spec.name);
    this.known(spec).engine = 'ended';
    return { killed: false };
  }

  async pause(spec: GuestSpec): Promise<void> {
    await this.enter('pause', spec.name);
    this.known(spec).engine = 'paused';
  }

  async resume(spec: GuestSpec): Promise<void> {
    await this.enter('resume', spec.name);
    this.known(spec).engine = 'running';
  }

  async observe(guest: GuestRef): Promise<ObservedState> {
    await this.enter('observe', guest.name);
    const g = this.guests.get(guest.id);
    if (!g || g.engine === 'ended') return { state: 'stopped', ...(g?.reason ? { reason: g.reason } : {}) };
    return { state: 'running', pid: 4242 };
  }

  async setLimits(spec: GuestSpec, _limits: ResolvedLimits): Promise<void> {
    await this.enter('setLimits', spec.name);
  }

  async exec(spec: GuestSpec, request: ExecPost): Promise<ExecResult> {
    await this.enter('exec', spec.name);
    return { exitCode: 0, stdout: request.command.join(' '), stderr: '' };
  }

  console(spec: GuestSpec): ConsolePaths {
    return { socket: path.join(spec.dir, 'console.sock'), logs: [] };
  }

  async usage(): Promise<{ memoryBytes?: number }> {
    return { memoryBytes: 1024 * 1024 };
  }

  async destroy(spec: GuestSpec): Promise<void> {
    await this.enter('destroy', spec.name);
    this.guests.delete(spec.id);
    await rm(spec.dir, { recursive: true, force: true });
  }
}

/** A fake of a kind that plugs disks into running guests (declares diskHotplug, has its methods). */
export class FakeHotplugDriver extends FakeDriver implements DiskHotplug {
  constructor(kind: GuestKind, features: Partial<Record<GuestFeature, true | string>> = {}) {
    super(kind, { ...features, diskHotplug: true });
  }

  diskDevice(_spec: GuestSpec, disk: AttachedDisk): string {
    return `/dev/vd${String.fromCharCode('a'.charCodeAt(0) + disk.slot)}`;
  }

  async attachDisk(spec: GuestSpec, disk: AttachedDisk): Promise<void> {
    await this.enter('attachDisk', spec.name, disk);
  }

  async detachDisk(spec: GuestSpec, disk: AttachedDisk): Promise<void> {
    await this.enter('detachDisk', spec.name, disk);
  }
}
