/**
 * @module The GuestDriver interface: what every guest kind does, and nothing more.
 * A driver is told everything about a guest in a GuestSpec (it never reads the
 * database), keeps the guest's host-side files in spec.dir, and names host-wide
 * resources after spec.id so cleanup after a crash is mechanical.
 */
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { GuestKind } from '../api/common.js';
import type { ExecPost, ExecRequest, ExecResult, ExecSignal, GuestOptions, Machine } from '../api/guests.js';
import type { ImageFormat } from '../api/images.js';
import type { VolumeContent } from '../api/storage.js';
import type { GuestFeature, LaunchOption } from '../api/host.js';
import type { CgroupUsage } from '../host/cgroups.js';
import type { GuestNic } from '../network/nic.js';
import type { Derivation } from '../images/derived.js';
import type { Revert } from '../lib/revert.js';
import type { DiskSource } from '../storage/backup-store/disk.js';

export interface ResolvedLimits {
  cpu?: number;
  memoryBytes?: number;
  swapBytes?: number;
  processes?: number;
  /** Set at launch: the size of the guest's own writable storage. */
  diskBytes?: number;
}

export interface GuestSpec {
  /** Unique on the host and across restarts: runtime ids and cgroups carry it. */
  id: string;
  name: string;
  kind: GuestKind;
  /** The guest's own directory; the driver owns everything in it. */
  dir: string;
  /**
   * A rootfs image, whose guests boot from the bases it makes for them (`bases`: an id-shifted
   * copy, a disk), or for vm guests a bootable disk or ISO (`file`, read-only). Drivers never
   * write in an image's directory.
   */
  image: { name: string; format: ImageFormat; file?: string; init: string; stopSignal: string; bases: ImageBases };
  /** The options of its launch, only those its kind takes. */
  options: GuestOptions;
  /**
   * Its root volume (from the storage layer, ready to use): the directory where its
   * writable layer or disk lives, and its size. None for a guest made before storage
   * pools, whose root is in its own directory, where the driver put it then.
   */
  root?: {
    dir: string;
    sizeBytes: number;
    /** Its volume holds another guest's root, copied: create keeps it (and makes it this guest's own). */
    copied?: boolean;
  };
  /** Volumes attached to it, by slot. */
  volumes: AttachedDisk[];
  /** Its NICs, eth0 first; none means loopback only. */
  nics: GuestNic[];
  limits: ResolvedLimits;
}

/**
 * The bases a guest's image makes for it from the version of its content the guest was made
 * from (images/derived.ts): made once, read-only, named by what they are made from, kept while
 * a guest made from that version is.
 */
export interface ImageBases {
  /** The base made by `derivation`: there already, or made now (a guest's first launch waits for it). */
  ensure(derivation: Derivation): Promise<string>;
  /**
   * The base of the guest's image that `file` names (a COW file's header names its backing file),
   * if `file` is in the image's directory under a name such a base has had: where it is, and
   * whether it is still there.
   */
  which(file: string, as: Derivation['as']): Promise<{ path: string; present: boolean } | undefined>;
}

/** A volume attached to a guest: its disk file (pv, vm), or for a container its filesystem mounted on the host. */
export interface AttachedDisk {
  /** The volume's name. */
  name: string;
  /** Its place among the guest's disks, from 1 (the root is 0). */
  slot: number;
  file: string;
  /** ct: where its filesystem is mounted on the host, and the path where the guest sees it. */
  mount?: { hostDir: string; path: string };
}

/** What names a guest on the host: enough to observe it without building its whole spec. */
export type GuestRef = Pick<GuestSpec, 'id' | 'name' | 'dir'>;

/** What a driver can do, whatever its host: declared once, asked by core instead of branching on a kind. */
export interface DriverCapabilities {
  /** What its root volume holds: files (a container's upper layer) or disk files an engine writes. */
  rootContent: VolumeContent;
  imageFormats: ImageFormat[];
  launchOptions: LaunchOption[];
  /** Each feature: true, or why its guests cannot (one sentence, said to the user as it is). */
  features: Record<GuestFeature, true | string>;
  /** How its root volume's files make the guest's filesystem, for reading them without the guest (a backup's files). */
  rootFiles?: RootFiles;
}

/**
 * What a root volume holds of a guest's filesystem: the upper directory of an overlay over
 * its image's rootfs (owners moved up by `idMap` unless the guest is privileged), or a disk
 * file written over a base of its image (a UML COW file over the ext4 base). Paths are
 * relative to the volume. (A kind with RootDiskChanges has its backups hold the whole disk.)
 */
export type RootFiles = { as: 'overlay'; upper: string; idMap: { hostId: number; size: number } } | { as: 'disk'; file: string; format: 'uml-cow' };

/** What the probe found on this host. */
export interface DriverProbe {
  kind: GuestKind;
  available: boolean;
  /** The engine and why it was chosen, or what is missing (naming the Debian package). */
  engine: string;
  /** For kinds that give a guest a fixed amount of memory: the least it boots with, and what it gets unasked. */
  memory?: { minimumBytes: number; defaultBytes: number };
}

export type DriverInfo = DriverProbe & DriverCapabilities;

/** What the host shows of a guest: alive (running or paused: the store knows which) or ended. */
/** `clean`: the guest shut itself down (a poweroff or halt from inside), no failure: restart policies tell the two apart. */
export type ObservedState = { state: 'running'; pid?: number } | { state: 'stopped'; reason?: string; clean?: boolean };

/** Limits a running guest gets only at its next start, each with why and what changed now. */
export type LimitsAtNextStart = Array<{ limit: 'cpu' | 'memory' | 'swap' | 'processes'; why: string }>;

/**
 * How a stop ended: killed is true when the guest did not end within the timeout; notAsked
 * says why it could not be asked at all (its agent or console did not answer), if so.
 */
export interface StopOutcome {
  killed: boolean;
  notAsked?: string;
}

export interface StopOptions {
  timeoutMs: number;
  force: boolean;
  stopSignal: string;
}

export interface ConsolePaths {
  /** A stream socket: bytes read are what the console shows, bytes written are typed into it. */
  socket: string;
  /** Oldest first: what the console has shown so far, bounded in size. */
  logs: string[];
}

/** An interactive command: the argv to run on a pty that the daemon holds. */
export interface InteractiveCommand {
  argv: string[];
}

/**
 * A command running in a guest with its input and output as streams: stdout and stderr are
 * read at the reader's pace (the command waits while they are full), stdin ends the command's
 * input when ended. `exit` settles once both outputs have ended.
 */
export interface ExecProcess {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Its exit code, or a LodgeError when the command could not be run at all. */
  exit: Promise<number>;
  /** Sends a signal to the command's process group, as a terminal's Ctrl-C does. */
  signal(signal: ExecSignal): void;
  /** Ends the command and whatever it started (its client left). */
  kill(): void;
}

/** A command on a terminal of the guest's own: all its output is the terminal's (stdout), and the terminal can be resized. */
export interface TerminalProcess extends ExecProcess {
  resize(cols: number, rows: number): void;
}

/** A terminal's size in characters. */
export interface TerminalSize {
  cols: number;
  rows: number;
}

/**
 * What a long driver call is part of: an operation that a client or lodged's shutdown may
 * cancel (the signal: stop at the next step, pass it to what waits), that shows progress,
 * and that undoes on failure what its steps registered in `revert`, newest first.
 */
export interface OperationContext {
  signal: AbortSignal;
  progress: (percent: number, step: string) => void;
  revert: Revert;
}

export interface GuestDriver {
  readonly kind: GuestKind;
  readonly capabilities: DriverCapabilities;
  probe(): Promise<DriverProbe>;
  /** Makes the guest's host-side files (its root in its volume, a bundle). Undone by destroy. Says the size of the root the guest sees. */
  create(spec: GuestSpec, ctx: OperationContext): Promise<{ rootBytes: number }>;
  /** Starts its engine; what fails or is cancelled after the engine runs is undone through ctx.revert (the engine killed). */
  start(spec: GuestSpec, ctx: OperationContext): Promise<void>;
  stop(spec: GuestSpec, options: StopOptions): Promise<StopOutcome>;
  pause(spec: GuestSpec): Promise<void>;
  resume(spec: GuestSpec): Promise<void>;
  /** Cheap enough to call for every guest on every list. */
  observe(guest: GuestRef): Promise<ObservedState>;
  /** Applies limits to a running guest; answers those its engine takes only at its next start (the rest applied now). */
  setLimits(spec: GuestSpec, limits: ResolvedLimits): Promise<LimitsAtNextStart | void>;
  exec(spec: GuestSpec, request: ExecPost): Promise<ExecResult>;
  /**
   * Kinds whose exec streams (pv: its output, its input whole); undefined where this guest's
   * cannot (a vm without lodge-execd). The others' is run whole behind the same streams (core).
   */
  execStream?(spec: GuestSpec, request: ExecRequest): Promise<ExecProcess | undefined>;
  /** Kinds with the interactiveExec feature: the command on a pty lodged holds (ct), or on one of the guest's own (vm, pv: lodge-execd's). */
  interactive?(spec: GuestSpec, request: ExecRequest): InteractiveCommand;
  execTerminal?(spec: GuestSpec, request: ExecRequest, size: TerminalSize): Promise<TerminalProcess>;
  console(spec: GuestSpec): ConsolePaths;
  /** What its cgroup counts: files read, no program run (GET /1.0/metrics reads it for every guest). */
  usage(guest: GuestRef): Promise<CgroupUsage>;
  /** Kinds that emulate a machine: what it runs on, and its counters while it runs (as process `pid`). */
  machine?(spec: GuestSpec, pid: number | undefined): Promise<Machine | undefined>;
  /** Removes every host-side trace of the guest; safe to call on a half-made or running guest. */
  destroy(spec: GuestSpec): Promise<void>;
  /** Kinds that give volumes as disks: the name the guest sees a disk under. */
  diskDevice?(spec: GuestSpec, disk: AttachedDisk): string;
}

/** Kinds whose running guests take disks and give them back (hot-plug). */
export interface DiskHotplug {
  attachDisk(spec: GuestSpec, disk: AttachedDisk): Promise<void>;
  detachDisk(spec: GuestSpec, disk: AttachedDisk): Promise<void>;
}

/** A regular file of a guest: its permission bits and owner in the guest's own ids, and its size. */
export interface GuestFileInfo {
  mode: number;
  uid: number;
  gid: number;
  sizeBytes: number;
}

/** A file to write into a guest. */
export interface FilePush {
  /** Absolute, as the guest sees it. */
  path: string;
  /** A file of lodged's that holds the content. */
  source: string;
  /**
   * Permission bits (at most 0o7777) and owner, in the guest's own ids; each left out keeps
   * the replaced file's, or for a new file is 0644 and root's.
   */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Make the missing directories above it (root's, 0755) instead of failing. */
  parents: boolean;
}

/**
 * Kinds whose guests take files from the host and give them back: the `files` feature
 * while a guest runs, `filesStopped` while it is stopped. A path resolves inside the
 * guest's root as the guest would resolve it: no link of the guest's leads out of it.
 * Only regular files are written or read; anything else at the path is refused, named.
 * `guest` is what the host shows of it (running, with its process, or stopped).
 */
export interface GuestFiles {
  pushFile(spec: GuestSpec, guest: ObservedState, push: FilePush): Promise<GuestFileInfo>;
  /** Copies a regular file of the guest into `dest` (a new file of lodged's), refusing one over `maxBytes`. */
  pullFile(spec: GuestSpec, guest: ObservedState, guestPath: string, dest: string, maxBytes: number): Promise<GuestFileInfo>;
}

/**
 * Kinds that keep a running guest's memory (the statefulSnapshot feature): its state saved
 * while it is paused, and a guest started again from it instead of booting.
 */
export interface GuestMemory {
  /** Writes the paused guest's memory and device state to `file` (a new file of lodged's); it stays paused until resumed. */
  saveMemory(spec: GuestSpec, file: string, signal: AbortSignal): Promise<void>;
  /** Starts the guest from the state in `file`, its disks as they were when it was saved; it runs on from there. */
  startFromMemory(spec: GuestSpec, file: string, ctx: OperationContext): Promise<void>;
}

/**
 * Kinds whose root is a disk whose changed blocks the engine tracks (QEMU's persistent
 * dirty bitmaps, kept in the qcow2 across restarts): a backup holds the disk as its guest
 * sees it, and reads after the first only what changed since the last.
 */
export interface RootDiskChanges {
  /**
   * With the guest quiesced (paused, or stopped: `running` says whether its engine runs),
   * before its root is snapshotted: starts tracking changes as `mark` and answers what
   * changed since mark `since` ([offset, length) ranges; undefined when that mark is not
   * there to trust). Marks are named lodge-*; every other one of them is dropped.
   */
  markChanges(spec: GuestSpec, running: boolean, mark: string, since: string | undefined): Promise<Array<[number, number]> | undefined>;
  /**
   * The root disk in volume directory `dir` (the guest's or a snapshot's), as its guest sees
   * it, and what beside its bytes lays it out again as it was (`layout`: a pv COW file's
   * bitmap and base), which a backup keeps with it.
   */
  openRootDisk(spec: GuestSpec, dir: string): Promise<DiskSource & { layout?: Buffer; close(): Promise<void> }>;
  /**
   * Makes the root disk in volume directory `dir` from the raw disk `raw` (removed): thin over
   * this host's base of its image, laid out as `layout` says where that still holds.
   */
  adoptRootDisk(spec: GuestSpec, dir: string, raw: string, layout: Buffer | undefined, signal: AbortSignal): Promise<void>;
}

/**
 * Kinds whose guests have a VGA screen (the vga feature): a connection to it, spoken in VNC
 * (RFB 3.8, no password: whoever holds the connection was let in by lodged), that the caller
 * ends. Never a TCP port: the engine serves it on a socket of its own.
 */
export interface GuestVga {
  connectVga(spec: GuestSpec): Promise<Socket>;
}

/**
 * Kinds whose guests keep their name inside what they are made of (a container's /etc/hostname,
 * written at create): told when a stopped guest is renamed (spec.name is the new name). The
 * other kinds are given their name at each start (their kernel's command line).
 */
export interface GuestRenaming {
  renamed(spec: GuestSpec): Promise<void>;
}

export const hasRenaming = (driver: GuestDriver): driver is GuestDriver & GuestRenaming => 'renamed' in driver;

/** What a running guest holds of memory and uses of it, as its engine shows it. */
export interface MemoryReading {
  /** What it is allowed now: its cgroup's limit, its balloon's size. */
  allocationBytes: number;
  /** What it uses, without the caches it could drop where the engine tells them apart. */
  usedBytes: number;
  /** Its processes killed for want of memory since it started, where known. */
  oomKills?: number;
}

/**
 * Kinds whose running guests take more memory and give some back (the autonomic loop's
 * balancing), below their limit, which stays their ceiling: how, in words ("cgroup limit",
 * "balloon"), what a guest holds and uses, and a new allocation for it. `mechanism` says
 * undefined for a guest that cannot (a vm without a balloon), `memoryReading` undefined
 * for one that cannot tell yet.
 */
export interface MemoryAllocation {
  memoryMechanism(spec: GuestSpec): Promise<string | undefined>;
  memoryReading(spec: GuestSpec): Promise<MemoryReading | undefined>;
  setMemoryAllocation(spec: GuestSpec, bytes: number): Promise<void>;
}

/**
 * Kinds whose guests run in a cgroup of lodged's: their CPU weight against the other guests'
 * (v1's cpu.shares unit) read and set alone, without their quota or memory (the autonomic
 * loop's CPU weighting, which must not reset what the memory balancing gave them).
 */
export interface CpuWeighting {
  /** Its weight now; undefined when its cgroup cannot be read (it has just ended). */
  cpuShares(guest: GuestRef): number | undefined;
  /** Whether two weights are one to the kernel (on cgroup v2, many shares are one cpu.weight). */
  sameCpuShares(a: number, b: number): boolean;
  setCpuShares(guest: GuestRef, shares: number): Promise<void>;
}

/** One side of a running guest that lodged asks after: whether it answers, and if not, why. */
export interface Answering {
  answers: boolean;
  why?: string;
}

/**
 * What lodged asks of a running guest to tell it is still there (the autonomic loop's health
 * watch): whether what holds its console answers (lodge-shim, and QEMU's monitor), and, where
 * the kind has one, whether the agent in the guest does. `agent` undefined: none is known to
 * run in it (a container; a pv guest whose lodge-execd has not spoken). A probe never takes a
 * connection an exec or a file copy is using: that one is busy, and answers as long as it lasts.
 */
export interface HealthProbe {
  /** Undefined where lodged cannot tell (a guest started by an earlier Lodge). */
  console?: Answering;
  agent?: Answering & { name: string };
}

export interface HealthProbing {
  probeHealth(spec: GuestSpec): Promise<HealthProbe>;
}

export const canProbeHealth = (driver: GuestDriver): driver is GuestDriver & HealthProbing => 'probeHealth' in driver;

export const canWeighCpu = (driver: GuestDriver): driver is GuestDriver & CpuWeighting => 'setCpuShares' in driver;

export const canAllocateMemory = (driver: GuestDriver): driver is GuestDriver & MemoryAllocation => 'setMemoryAllocation' in driver;

export const hasVga = (driver: GuestDriver): driver is GuestDriver & GuestVga => 'connectVga' in driver;

export const hasRootDiskChanges = (driver: GuestDriver): driver is GuestDriver & RootDiskChanges => 'markChanges' in driver;

export const hasMemory = (driver: GuestDriver): driver is GuestDriver & GuestMemory => 'saveMemory' in driver;

export const hasFiles = (driver: GuestDriver): driver is GuestDriver & GuestFiles => 'pushFile' in driver;

export const canHotplugDisks = (driver: GuestDriver): driver is GuestDriver & DiskHotplug => 'attachDisk' in driver;
