/**
 * @module Paravirtual guests (`pv`): User-Mode Linux, a Linux kernel ported to run as
 * host processes, one linux.uml per guest as an EngineProcess (shim, own cgroup, own
 * uid). Its root disk is a COW file over the image's shared ext4 base; it is driven
 * through the mconsole, and `lodge exec` reaches it through lodge-agent.
 *
 * The guest's directory `pv/` is root's (its UML's group may pass through it): UML's own
 * files are in `pv/engine/` (its COW disk, its pidfile and mconsole socket), lodged's
 * beside it (the exec exchange, the mconsole's client sockets), where UML cannot put a
 * link in their place. A guest started by an earlier lodged, whose UML owned `pv/`
 * itself, is moved to this layout: `pv/` at once, the rest at its next start.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { constants } from 'node:fs';
import { chmod, chown, lchown, lstat, mkdir, open, realpath, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as UnixDgram from 'unix-dgram';
import { LodgeError } from '../../api/errors.js';
import type { ExecPost, ExecRequest, ExecResult } from '../../api/guests.js';
import { formatSize } from '../../api/sizes.js';
import { run } from '../../lib/exec.js';
import { readUntrustedHead } from '../../host/untrusted-file.js';
import type { AttachedDisk, CpuWeighting, DiskHotplug, DriverCapabilities, ExecProcess, FilePush, GuestDriver, GuestFileInfo, GuestFiles, GuestSpec, HealthProbe, HealthProbing, MemoryAllocation, MemoryReading, DriverProbe, ObservedState, OperationContext, RootDiskChanges, StopOptions, StopOutcome, TerminalProcess, TerminalSize } from '../driver.js';
import { ExecLinks, execdMissing } from '../exec-link.js';
import { runWhole } from '../stream-exec-whole.js';
import { shimAnswers } from '../shim.js';
import { wholeInputExecProcess } from '../whole-input-exec.js';
import { EngineDriver, EngineProcess, untilDeadline } from '../engine-process.js';
import { AgentChannel } from './agent.js';
import { umlArgv } from './argv.js';
import { cowHeader, cowHeaderBytes, cowLayout, parseCowHeader } from './cow.js';
import { markCowChanges } from './cow-changes.js';
import { baseIdentity, openCowDisk, readCowFile, writeCowOverBase } from './cow-disk.js';
import { Mconsole } from './mconsole.js';
import { availableBytes, bootedMemoryBytes, memConfigChange, readUnplugged, writeUnplugged } from './memory-unplug.js';

export interface PvDriverOptions {
  kernel: string;
  modulesDir: string;
  shimBinary: string;
  /** lodge-uml-xstate.so, preloaded into UML (see shim/lodge-uml-xstate.c). */
  xstateLibrary: string;
  cgroupParent: string;
  consoleLogBytes: number;
}

const mib = 1024 * 1024;
// UML boots in 32M only about half the time here ("System is deadlocked on memory"); 48M did in 27 boots of 27
export const pvMemory = { minimumBytes: 48 * mib, defaultBytes: 128 * mib } as const;

/** The root disk's COW file in its volume. */
const rootCow = 'root.cow';
/** What the guest calls the disk of ubd N: /dev/ubda is the root. */
const ubdDevice = (slot: number) => `/dev/ubd${String.fromCharCode(97 + slot)}`;

export class PvDriver extends EngineDriver implements GuestDriver, CpuWeighting, DiskHotplug, GuestFiles, HealthProbing, MemoryAllocation, RootDiskChanges {
  readonly kind = 'pv' as const;
  readonly capabilities: DriverCapabilities = {
    rootContent: 'block',
    imageFormats: ['rootfs'],
    launchOptions: [],
    rootFiles: { as: 'disk', file: rootCow, format: 'uml-cow' },
    features: {
      exec: true,
      interactiveExec: true,
      pause: true,
      liveLimits: true,
      memoryBalloon: "UML has no balloon: lower a pv guest's memory while it is stopped (a smaller cgroup under the running UML would wedge it); below it, the autonomic loop moves its memory live (UML's memory unplug)",
      diskHotplug: true,
      volumeMount: 'a pv guest sees a volume as a disk (/dev/ubdb..), which it mounts itself',
      files: true,
      filesStopped: "a stopped pv guest's disk is read and written by its own kernel alone: start it, and its agent copies the file",
      statefulSnapshot: "UML has no memory snapshot: its state is its COW file",
      liveMigration: 'UML has no migration',
      vga: 'UML emulates no display: lodge console NAME is its terminal',
    },
  };
  /** What a base is made from beside its image: this UML and its modules (see base). */
  private baseKey = '';
  private readonly options: PvDriverOptions;
  protected readonly engine: EngineProcess;
  private unix: typeof UnixDgram | undefined;
  /** The links to lodge-execd that guests' streamed execs share; stdin kept within what the guest's serial line buffers. */
  private readonly execLinks = new ExecLinks(5000, { inputWindow: 3 * 1024 });

  constructor(options: PvDriverOptions) {
    super();
    this.options = options;
    // UML's own page tables and helper processes, beside the guest's memory
    this.engine = new EngineProcess({ ...options, defaultMemoryBytes: pvMemory.defaultBytes, overheadBytes: 64 * mib, env: { LD_PRELOAD: options.xstateLibrary }, channel: true });
  }

  async probe(): Promise<DriverProbe> {
    if (!existsSync(this.options.kernel)) return { kind: 'pv', available: false, engine: `${this.options.kernel} is missing: install the Debian package user-mode-linux` };
    for (const built of [this.options.shimBinary, this.options.xstateLibrary])
      if (!existsSync(built)) return { kind: 'pv', available: false, engine: `${path.basename(built)} is missing at ${built} (run npm run build)` };
    try {
      this.unix = createRequire(import.meta.url)('unix-dgram') as typeof UnixDgram;
    } catch (e) {
      return { kind: 'pv', available: false, engine: `the npm module unix-dgram does not load (${(e as Error).message}): run npm ci` };
    }
    const version = (await run([this.options.kernel, '--version'], { allowFailure: true, timeoutMs: 10_000 })).stdout.trim();
    const modules = existsSync(this.options.modulesDir) ? readdirSync(this.options.modulesDir).sort().join(' ') : '';
    this.baseKey = createHash('sha256').update(`${version}\n${modules}`).digest('hex').slice(0, 12);
    return { kind: 'pv', available: true, engine: `User-Mode Linux ${version || this.options.kernel}`, memory: pvMemory };
  }

  private paths(spec: GuestSpec) {
    const pv = path.join(spec.dir, 'pv');
    const engine = path.join(pv, 'engine');
    // its COW disk is in its root volume; for a guest made before storage pools, in engine/
    return { pv, engine, cow: path.join(spec.root?.dir ?? engine, rootCow), umid: 'uml', mconsole: path.join(engine, 'uml', 'mconsole'), agent: new AgentChannel(path.join(pv, 'agent'), () => this.engine.observe(spec).then((o) => o.state === 'running')) };
  }

  /** Makes `pv/` root's, with the guest's UML allowed through; an earlier lodged gave it to UML. */
  private async secureDir(spec: GuestSpec): Promise<void> {
    const { pv } = this.paths(spec);
    const uid = this.engine.uid(spec);
    const st = await lstat(pv);
    if (!st.isDirectory()) throw new LodgeError('ENGINE_FAILED', `${pv} is not a directory`);
    // pv's own name is in the guest's directory, which is root's: it is not a link
    if (st.uid !== 0 || st.gid !== uid || (st.mode & 0o7777) !== 0o710) {
      await chown(pv, 0, uid);
      await chmod(pv, 0o710);
    }
  }

  /**
   * The mconsole socket of the running UML: in engine/, or for a UML an earlier lodged
   * started, in pv/ itself. A UML that has just started makes it early in its boot: it is
   * waited for up to `waitMs`.
   */
  private async mconsole(spec: GuestSpec, waitMs = 0): Promise<Mconsole> {
    if (!this.unix) throw new LodgeError('UNAVAILABLE', 'the pv driver was not probed');
    await this.secureDir(spec);
    const p = this.paths(spec);
    const socket = existsSync(p.engine) ? p.mconsole : path.join(p.pv, 'uml', 'mconsole');
    for (const end = Date.now() + waitMs; !existsSync(socket) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100));
    return new Mconsole(socket, p.pv, this.unix);
  }

  /**
   * The base new guests of an image are written over, made by the image from the version the
   * guest was made from, with this UML's modules in it (every guest has them, on disk once).
   * A UML upgraded makes a new base; the old one stays for the guests written over it.
   */
  private base(spec: GuestSpec): Promise<string> {
    return spec.image.bases.ensure({ as: 'ext4', key: this.baseKey, additions: { 'lib/modules': this.options.modulesDir } });
  }

  /**
   * The base a guest's disk was written over: the one its COW file names when that is one of
   * its image's bases, the current one for a new disk. The name comes from UML's file:
   * nothing else is taken.
   */
  private async baseOf(spec: GuestSpec, cow = this.paths(spec).cow): Promise<string> {
    const head = await readUntrustedHead(cow, `the COW disk of ${spec.name}`, cowHeaderBytes).catch(() => undefined);
    const header = head ? parseCowHeader(head) : undefined;
    const named = header && (await spec.image.bases.which(header.backingFile, 'ext4'));
    if (!named) return this.base(spec);
    if (!named.present) {
      throw new LodgeError('CONFLICT', `cannot start ${spec.name}: its disk was written over ${path.basename(named.path)} of image ${spec.image.name}, which is gone; delete the guest and launch it anew`);
    }
    return named.path;
  }

  async create(spec: GuestSpec, ctx: OperationContext): Promise<{ rootBytes: number }> {
    const base = await this.base(spec);
    ctx.signal.throwIfAborted();
    const baseBytes = (await stat(base)).size;
    if (spec.limits.diskBytes !== undefined && spec.limits.diskBytes !== baseBytes) {
      throw new LodgeError('UNSUPPORTED', `limits.disk: a pv guest's disk is a COW file over its image's base, of the base's size (${formatSize(baseBytes)} for ${spec.image.name}); launch it without --disk`);
    }
    await mkdir(this.paths(spec).pv, { recursive: true });
    await mkdir(this.engine.shim(spec).dir, { recursive: true });
    await this.prepareDirs(spec);
    await this.ensureCow(spec, base);
    // a copied disk was another guest's UML's: this guest's owns it now (the volume's directory is root's: no link in it)
    if (spec.root?.copied) await lchown(this.paths(spec).cow, this.engine.uid(spec), this.engine.uid(spec));
    return { rootBytes: baseBytes };
  }

  /**
   * The layout of `pv/`, made or repaired while no UML of the guest runs: root's `pv/`,
   * UML's `engine/` (an earlier lodged's COW file moves there), the exec exchange.
   */
  private async prepareDirs(spec: GuestSpec): Promise<void> {
    const p = this.paths(spec);
    const uid = this.engine.uid(spec);
    await this.secureDir(spec);
    const engine = await lstat(p.engine).catch(() => undefined);
    if (engine && !engine.isDirectory()) await rm(p.engine, { force: true });
    if (!engine?.isDirectory()) await mkdir(p.engine, { mode: 0o700 });
    await chown(p.engine, uid, uid);
    await chmod(p.engine, 0o700);
    const oldCow = path.join(p.pv, rootCow);
    if (await lstat(oldCow).then(() => true, () => false)) await rename(oldCow, p.cow);
    await rm(path.join(p.pv, 'uml'), { recursive: true, force: true });
    await p.agent.prepare(uid);
  }

  /**
   * The guest's COW file in its root volume, made by lodged (not UML): the volume's
   * directory stays root's, so the guest's UML owns its disk and nothing beside it (no
   * subvolume of its own on btrfs, no link to another volume's file).
   */
  private async ensureCow(spec: GuestSpec, base: string): Promise<void> {
    const { cow } = this.paths(spec);
    if (!spec.root || existsSync(cow)) return;
    const st = await stat(base);
    const header = cowHeader({ backingFile: base, mtime: Math.floor(st.mtimeMs / 1000), size: st.size });
    const tmp = `${cow}.tmp`;
    const file = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
    try {
      await file.write(header, 0, header.length, 0);
      await file.truncate(cowLayout(st.size).dataOffset + st.size);
      await file.chown(this.engine.uid(spec), this.engine.uid(spec));
    } finally {
      await file.close();
    }
    await rename(tmp, cow);
  }

  /** A COW file belongs to the base it was written over: refuse a base made again since. */
  private async checkCow(spec: GuestSpec, cow: string, base: string): Promise<void> {
    // UML's file: read as one that could be anything
    const head = await readUntrustedHead(cow, `the COW disk of ${spec.name}`, cowHeaderBytes);
    if (!head) return;
    const header = parseCowHeader(head);
    const st = await stat(base);
    // the same file by another name counts (an image directory moved, its old name a link to it)
    const sameFile = async () => header!.backingFile === base || (await realpath(header!.backingFile).catch(() => '')) === (await realpath(base));
    if (header && (!(await sameFile()) || header.mtime !== Math.floor(st.mtimeMs / 1000) || header.size !== st.size)) {
      throw new LodgeError(
        'CONFLICT',
        `cannot start ${spec.name}: its disk was written over an earlier base of image ${spec.image.name}, which has been made again since (${base}); delete the guest and launch it anew`,
      );
    }
  }

  /**
   * The COW file's bitmap kept as the mark (lodged's, in `pv/changes/`): the guest is paused
   * or stopped, so its UML writes nothing meanwhile.
   */
  async markChanges(spec: GuestSpec, _running: boolean, mark: string, since: string | undefined): Promise<Array<[number, number]> | undefined> {
    // pv/ root's again (an earlier lodged gave it to UML), so that no link of UML's stands at pv/changes
    await this.secureDir(spec);
    const { cow, pv } = this.paths(spec);
    const base = await this.baseOf(spec);
    const { header, bitmap } = await readCowFile(cow, baseIdentity(base, await stat(base)), `the COW disk of ${spec.name}`);
    return markCowChanges({ header, bitmap, dir: path.join(pv, 'changes'), mark, since });
  }

  /** The COW file in `dir` over the base it names, which must be its image's and as it was. */
  async openRootDisk(spec: GuestSpec, dir: string) {
    const cow = path.join(dir, rootCow);
    const base = await this.baseOf(spec, cow);
    return openCowDisk(cow, baseIdentity(base, await stat(base)), `the COW disk of ${spec.name}`);
  }

  /**
   * A COW file over this host's base of the image, as large as the base (a disk of another
   * size does not fit): as thin as the backed-up one over the very same base, whole over another.
   */
  async adoptRootDisk(spec: GuestSpec, dir: string, raw: string, layout: Buffer | undefined, signal: AbortSignal): Promise<void> {
    const cow = path.join(dir, rootCow);
    try {
      const base = await this.base(spec);
      const st = await stat(base);
      const rawBytes = (await stat(raw)).size;
      if (rawBytes !== st.size) {
        throw new LodgeError('CONFLICT', `the disk restored into ${spec.name} is ${formatSize(rawBytes)}, where this host's base of image ${spec.image.name} is ${formatSize(st.size)}: a pv guest's disk is as large as the base it is written over`);
      }
      await rm(`${cow}.tmp`, { force: true });
      await writeCowOverBase(raw, `${cow}.tmp`, baseIdentity(base, st), layout, signal);
      await rename(`${cow}.tmp`, cow);
    } finally {
      await rm(raw, { force: true });
      await rm(`${cow}.tmp`, { force: true });
    }
  }

  async start(spec: GuestSpec, ctx: OperationContext): Promise<void> {
    const p = this.paths(spec);
    await this.prepareDirs(spec);
    const base = await this.baseOf(spec);
    await this.ensureCow(spec, base);
    await this.checkCow(spec, p.cow, base);
    await rm(path.join(p.engine, 'uml'), { recursive: true, force: true });
    await this.ownDisks(spec, spec.volumes);
    await this.engine.start(
      spec,
      umlArgv({
        kernel: this.options.kernel,
        umlDir: p.engine,
        umid: p.umid,
        memoryBytes: this.engine.memoryBytes(spec),
        cow: p.cow,
        base,
        disks: spec.volumes.map((v) => ({ slot: v.slot, file: v.file })),
        init: spec.image.init,
        hostname: spec.name,
        hostfsRoot: p.agent.dir,
        nics: spec.nics.map((n) => ({ tap: n.hostDevice, mac: n.mac, address: n.address, gateway: n.gateway })),
      }),
      ctx,
    );
  }

  stop(spec: GuestSpec, options: StopOptions): Promise<StopOutcome> {
    return this.engine.stop(spec, options, async (deadline) => {
      const mc = await this.mconsole(spec);
      // a paused UML answers only the mconsole: let it run so that init can act on Ctrl-Alt-Del
      await mc.command('go', untilDeadline(deadline)).catch(() => {});
      await mc.command('cad', untilDeadline(deadline));
    });
  }

  async pause(spec: GuestSpec): Promise<void> {
    await (await this.mconsole(spec)).stop();
  }

  diskDevice(_spec: GuestSpec, disk: AttachedDisk): string {
    return ubdDevice(disk.slot);
  }

  /** A volume's file is its UML's to open (UML runs as the guest's own user) while it has it. */
  private async ownDisks(spec: GuestSpec, disks: AttachedDisk[]): Promise<void> {
    const uid = this.engine.uid(spec);
    for (const d of disks) await lchown(d.file, uid, uid);
  }

  async attachDisk(spec: GuestSpec, disk: AttachedDisk): Promise<void> {
    await this.ownDisks(spec, [disk]);
    const mc = await this.mconsole(spec, 15_000);
    // a disk plugged in before the guest kernel's ubd driver has started panics it (UML 6.1):
    // it has once its root disk is among the kernel's partitions (which it cannot show earlier still)
    const partitions = () => mc.command('proc partitions').catch(() => '');
    for (const end = Date.now() + 30_000; !/\bubda\b/.test(await partitions()); ) {
      if (Date.now() > end) throw new LodgeError('CONFLICT', `${spec.name} has not started its disks within 30 s: attach ${disk.name} once it has booted`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await mc.config(`ubd${disk.slot}d`, disk.file);
  }

  async detachDisk(spec: GuestSpec, disk: AttachedDisk): Promise<void> {
    // UML refuses while the guest has it mounted or open: its answer says so
    await (await this.mconsole(spec)).remove(`ubd${disk.slot}`);
  }

  async resume(spec: GuestSpec): Promise<void> {
    await (await this.mconsole(spec)).go();
  }

  /**
   * Through lodge-execd where it has spoken on its line, as a stream whose input is sent at once;
   * else through lodge-agent, which looks for requests only a few times a second once idle.
   */
  async exec(spec: GuestSpec, request: ExecPost): Promise<ExecResult> {
    await this.secureDir(spec);
    const line = this.engine.shim(spec).execSocket;
    if (!existsSync(line)) return this.paths(spec).agent.exec(spec.name, request);
    const { stdin, ...streamed } = request;
    return runWhole(await this.execLinks.open(spec, line, streamed), stdin, `exec in ${spec.name}`, request.command[0]!);
  }

  /**
   * Through lodge-execd on the guest's second serial line where it has spoken there (the shim
   * serves the line once it has); else through lodge-agent, its output as the agent writes it
   * and its input whole (drivers/whole-input-exec.ts).
   */
  async execStream(spec: GuestSpec, request: ExecRequest): Promise<ExecProcess> {
    await this.secureDir(spec);
    const line = this.engine.shim(spec).execSocket;
    if (existsSync(line)) return this.execLinks.open(spec, line, request);
    const agent = this.paths(spec).agent;
    return wholeInputExecProcess((stdin, stdout, stderr) => agent.execStreaming(spec.name, { ...request, stdin }, stdout, stderr), `exec in ${spec.name}`);
  }

  /** The autonomic loop moves its memory through UML's memory unplug (pv/memory-unplug.ts), once its mconsole is up. */
  async memoryMechanism(spec: GuestSpec): Promise<string | undefined> {
    return existsSync(this.paths(spec).mconsole) ? 'memory unplug' : undefined;
  }

  /** What it holds (what it booted with, less what it gave up) and uses (all of that its kernel does not count available). */
  async memoryReading(spec: GuestSpec): Promise<MemoryReading | undefined> {
    const held = await this.unplugged(spec);
    if (!held) return undefined;
    const meminfo = await (await this.mconsole(spec)).command('proc meminfo').catch(() => undefined);
    const available = meminfo === undefined ? undefined : availableBytes(meminfo);
    if (available === undefined) return undefined;
    const allocationBytes = held.bootedBytes - held.bytes;
    return { allocationBytes, usedBytes: Math.max(0, allocationBytes - available) };
  }

  /** Unplugs or plugs back the difference, never past what it booted with; its cgroup stays sized for that. */
  async setMemoryAllocation(spec: GuestSpec, bytes: number): Promise<void> {
    const held = await this.unplugged(spec);
    if (!held) throw new LodgeError('CONFLICT', `${spec.name} is not running: its memory is what it starts with`);
    const target = held.bootedBytes - Math.min(bytes, held.bootedBytes);
    const change = memConfigChange(held.bytes, target);
    if (!change) return;
    await (await this.mconsole(spec)).config('mem', change);
    writeUnplugged(held.file, held.pid, target);
  }

  /** The running engine's memory as it booted and what it holds unplugged; undefined while it does not run. */
  private async unplugged(spec: GuestSpec): Promise<{ pid: number; bootedBytes: number; bytes: number; file: string } | undefined> {
    const observed = await this.engine.observe(spec);
    const pid = observed.state === 'running' ? observed.pid : undefined;
    const bootedBytes = pid === undefined ? undefined : bootedMemoryBytes(pid);
    if (pid === undefined || bootedBytes === undefined) return undefined;
    const file = path.join(this.engine.shim(spec).dir, 'memory-unplugged.json');
    return { pid, bootedBytes, bytes: readUnplugged(file, pid), file };
  }

  /** Its console's holder, and lodge-execd once it has spoken on its line (lodge-agent is not asked: that would start a process in the guest). */
  async probeHealth(spec: GuestSpec): Promise<HealthProbe> {
    const shim = this.engine.shim(spec);
    const console = shimAnswers(shim);
    const agent = existsSync(shim.execSocket) ? { name: 'lodge-execd', ...(await this.execLinks.ping(spec, shim.execSocket)) } : undefined;
    return { ...(console ? { console } : {}), ...(agent ? { agent } : {}) };
  }

  /** exec -t: on a terminal of the guest's own, through lodge-execd (lodge-agent has none). */
  async execTerminal(spec: GuestSpec, request: ExecRequest, size: TerminalSize): Promise<TerminalProcess> {
    await this.secureDir(spec);
    const line = this.engine.shim(spec).execSocket;
    if (!existsSync(line)) throw execdMissing(spec.name);
    return this.execLinks.open(spec, line, request, size);
  }

  /** Through lodge-agent, as an exec: the guest's own kernel resolves the path (files are refused while it is stopped). */
  async pushFile(spec: GuestSpec, _guest: ObservedState, push: FilePush): Promise<GuestFileInfo> {
    await this.secureDir(spec);
    return this.paths(spec).agent.pushFile(spec.name, push, this.engine.uid(spec), `cannot push ${push.path} into ${spec.name}`);
  }

  async pullFile(spec: GuestSpec, _guest: ObservedState, guestPath: string, dest: string, maxBytes: number): Promise<GuestFileInfo> {
    await this.secureDir(spec);
    return this.paths(spec).agent.pullFile(spec.name, guestPath, dest, maxBytes, `cannot pull ${guestPath} from ${spec.name}`);
  }

}
