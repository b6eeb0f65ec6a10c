/**
 * @module Full virtual machines (`vm`): one qemu-system-x86_64 per guest as an
 * EngineProcess (shim, own cgroup, own uid), with -sandbox on. A rootfs image boots
 * directly: Debian's kernel (cloud for virtio, generic for legacy) with a small initramfs
 * that mounts the guest's qcow2 disk, an overlay on the image's shared base. A disk or
 * ISO image boots through the firmware. Its serial console is the shim's pty (bounded
 * log, several viewers, exit status), its screen a VNC unix socket; it is driven through QMP,
 * and `lodge exec` reaches the guest's agent (QGA) on a virtio-serial port.
 *
 * The guest's directory `vm/` is its QEMU's (the disk, the QMP, agent and VNC sockets):
 * lodged writes nothing there once QEMU has run, and reaches the QMP, agent and VNC sockets
 * without following a link. What lodged keeps about the guest (machine.json) is in the
 * guest's root-only directory.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { chmod, chown, lchown, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import net, { type Socket } from 'node:net';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { LodgeError } from '../../api/errors.js';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Machine, type DeviceProfile } from '../../api/guests.js';
import { formatSize } from '../../api/sizes.js';
import { buildInitramfs } from '../../images/initramfs.js';
import { ensureVmKernel, type KernelFlavour, type VmKernel } from '../../images/vm-kernel.js';
import { readUntrustedJson, withUntrustedSocket } from '../../host/untrusted-file.js';
import { run } from '../../lib/exec.js';
import { Inflight } from '../../lib/inflight.js';
import { fileDiskSource } from '../../storage/backup-store/disk.js';
import { createDisk, createOverlay, qcow2OverBase, virtualSize } from '../../storage/qcow2.js';
import { openQcow2 } from '../../storage/qcow2-reader.js';
import type { ExecPost, ExecRequest, ExecResult } from '../../api/guests.js';
import type { AttachedDisk, CpuWeighting, DiskHotplug, DriverCapabilities, DriverProbe, ExecProcess, FilePush, GuestDriver, GuestFileInfo, GuestFiles, GuestMemory, GuestSpec, Answering, HealthProbe, HealthProbing, GuestVga, LimitsAtNextStart, TerminalProcess, TerminalSize, MemoryAllocation, MemoryReading, ObservedState, RootDiskChanges, OperationContext, ResolvedLimits, StopOptions, StopOutcome } from '../driver.js';
import { EngineDriver, EngineProcess, untilDeadline } from '../engine-process.js';
import { shimAnswers, waitForExit } from '../shim.js';
import { chooseAccel, probeAccel, type ProbeResult } from './accel.js';
import { makeCloudSeed } from './cloud-seed.js';
import { qemuArgv, volumeBlockdev, volumeDevice } from './argv.js';
import { balloonAvailableBytes, balloonPath, statsPollSeconds } from './balloon.js';
import { markRunning, markStopped } from './disk-changes.js';
import { onlineCpus, setVcpus } from './vcpus.js';
import { loadMachineState, saveMachineState } from './memory-state.js';
import { ExecLinks, execdMissing } from '../exec-link.js';
import { guestExec, Qga, QgaError } from './qga.js';
import { pullFile, pushFile } from './qga-files.js';
import { Qmp } from './qmp.js';

export interface VmDriverOptions {
  qemu: string;
  /** lodged's scratch directory (emptied at each start): the accelerator probe's disk. */
  scratchDir: string;
  kernelCacheDir: string;
  busybox: string;
  shimBinary: string;
  cgroupParent: string;
  consoleLogBytes: number;
  /** Guests' memory offered to KSM (QEMU's mem-merge, its default); lodged --ksm off says no. */
  mergeable?: boolean;
}

const mib = 1024 * 1024;
export const vmMemory = { minimumBytes: 96 * mib, defaultBytes: 256 * mib } as const;
/** The root disk of a guest booting an ISO, unless --disk says otherwise: sparse, so it costs only what is written. */
const isoDiskBytes = 8 * 1024 * mib;
/** The root disk in its volume: a qcow2 overlay. */
const rootDisk = 'root.qcow2';

/**
 * Per profile: the kernel that has its drivers, and what the initramfs loads (the root disk, the NIC, the ACPI power
 * button with its event device, and virtio_console for the guest agent's port, which every profile has).
 */
const profileKernels: Record<DeviceProfile, { flavour: KernelFlavour; modules: string[] }> = {
  // isofs: cloud-init's seed (cloud-seed.ts), which the guest's own system has no module for
  virtio: { flavour: 'cloud-amd64', modules: ['virtio_pci', 'virtio_blk', 'virtio_net', 'virtio_balloon', 'virtio_rng', 'virtio_console', 'button', 'evdev', 'isofs'] },
  // the generic kernel has ext4 and its checksum as modules too (the cloud kernel builds them in)
  legacy: { flavour: 'amd64', modules: ['ahci', 'sd_mod', 'crc32c_generic', 'ext4', 'e1000', 'virtio_pci', 'virtio_console', 'button', 'evdev', 'virtio_blk', 'isofs'] },
};

interface BootFiles {
  kernel: VmKernel;
  initrd: string;
}

/** How a guest was started, kept beside it for lodge info. */
type MachineRecord = Omit<Machine, 'stats' | 'statsUnavailable'>;
const OldMachineRecord = Type.Omit(Machine, ['stats', 'statsUnavailable']);

/** How long lodge info waits for a running QEMU's counters: a wedged one must not hold up the answer. */
export const statsTimeoutMs = 1500;

/** A volume's serial number in the guest (at most 20 characters): its name, as /dev/disk/by-id shows it. */
const diskSerial = (disk: AttachedDisk) => disk.name.slice(0, 20);
/** How long a guest may take to give a disk back after the unplug request (PCIe waits 5 s for a change of mind). */
const unplugTimeoutMs = 20_000;

/**
 * exec: how long the guest's agent may take to answer the sync that opens a connection (one that does not is
 * missing or not started yet) and each later request, and how long a command may run (as in ct guests).
 */
const agentTimes = { syncMs: 5000, answerMs: 30_000, runMs: 3_600_000 } as const;

export class VmDriver extends EngineDriver implements GuestDriver, CpuWeighting, DiskHotplug, GuestFiles, GuestMemory, HealthProbing, GuestVga, MemoryAllocation, RootDiskChanges {
  readonly kind = 'vm' as const;
  readonly capabilities: DriverCapabilities = {
    rootContent: 'block',
    imageFormats: ['rootfs', 'qcow2', 'raw', 'iso'],
    launchOptions: ['accel', 'profile', 'userData'],
    features: {
      exec: true,
      interactiveExec: true,
      pause: true,
      liveLimits: true,
      memoryBalloon: true,
      diskHotplug: true,
      volumeMount: 'a vm guest sees a volume as a disk (/dev/disk/by-id/virtio-NAME), which it mounts itself',
      files: true,
      filesStopped: "a stopped vm guest's disk is read and written by its own kernel alone (Incus refuses the same): start it, and its guest agent copies the file",
      statefulSnapshot: true,
      liveMigration: 'not yet (a later issue)',
      vga: true,
    },
  };
  private readonly options: VmDriverOptions;
  protected readonly engine: EngineProcess;
  /** Kernel and initramfs per profile, found (or made) once per lodged: asking apt each launch costs about a second. */
  private readonly bootFiles = new Map<DeviceProfile, BootFiles>();
  private readonly bootMaking = new Inflight<BootFiles>();
  /** The accelerator probe, run once per lodged when a guest first needs it. */
  private accelProbe: Promise<ProbeResult> | undefined;
  /** Per guest id, the agent connection its execs share: QEMU serves one client at a time on the agent's socket. */
  private readonly agents = new Map<string, AgentConnection>();
  /** The links to lodge-execd that guests' streamed execs share. */
  private readonly execLinks = new ExecLinks(agentTimes.syncMs, { qemuPort: true });

  constructor(options: VmDriverOptions) {
    super();
    this.options = options;
    // QEMU's own memory beside the guest's: TCG's translation cache, device emulation
    this.engine = new EngineProcess({ ...options, defaultMemoryBytes: vmMemory.defaultBytes, overheadBytes: 256 * mib });
  }

  async probe(): Promise<DriverProbe> {
    const missing = !existsSync(this.options.qemu)
      ? `${this.options.qemu} is missing: install the Debian package qemu-system-x86`
      : (await run(['qemu-img', '--version'], { allowFailure: true }).catch(() => undefined))?.code !== 0
        ? 'qemu-img is missing: install the Debian package qemu-utils'
        : !existsSync(this.options.shimBinary)
          ? `lodge-shim is missing at ${this.options.shimBinary} (run npm run build)`
          : undefined;
    if (missing) return { kind: 'vm', available: false, engine: missing };
    const version = (await run([this.options.qemu, '--version'])).stdout.split('\n')[0]!.trim();
    return { kind: 'vm', available: true, engine: version, memory: vmMemory };
  }

  private paths(spec: GuestSpec) {
    const vm = path.join(spec.dir, 'vm');
    return {
      vm,
      // in its root volume; for a guest made before storage pools, in vm/
      disk: path.join(spec.root?.dir ?? vm, rootDisk),
      qmp: path.join(vm, 'qmp.sock'),
      qga: path.join(vm, 'qga.sock'),
      exec: path.join(vm, 'exec.sock'),
      vnc: path.join(vm, 'vnc.sock'),
      machine: path.join(spec.dir, 'machine.json'),
      /** Where an earlier lodged kept machine.json, in QEMU's own directory: read for a guest it started, never written. */
      oldMachine: path.join(vm, 'machine.json'),
    };
  }

  /** virtio for Lodge's Linux images, legacy for imported disks and ISOs (any OS has drivers for it), unless asked. */
  private profile(spec: GuestSpec): DeviceProfile {
    return spec.options.profile ?? (spec.image.format === 'rootfs' ? 'virtio' : 'legacy');
  }

  /** The kernel of a profile and, beside it, an initramfs named after what it holds; found again if the cache lost them. */
  private async boot(profile: DeviceProfile): Promise<BootFiles> {
    const known = this.bootFiles.get(profile);
    if (known && existsSync(known.kernel.vmlinuz) && existsSync(known.initrd)) return known;
    const files = await this.bootMaking.run(profile, async () => {
      const { flavour, modules } = profileKernels[profile];
      const kernel = await ensureVmKernel(this.options.kernelCacheDir, flavour);
      const image = await buildInitramfs(kernel.modulesDir, this.options.busybox, modules);
      const initrd = path.join(path.dirname(kernel.vmlinuz), `lodge-initrd-${createHash('sha256').update(image).digest('hex').slice(0, 12)}.gz`);
      if (!existsSync(initrd)) {
        await writeFile(`${initrd}.tmp-${process.pid}`, image);
        await rename(`${initrd}.tmp-${process.pid}`, initrd);
      }
      return { kernel, initrd };
    });
    this.bootFiles.set(profile, files);
    return files;
  }

  private probeAccel(): Promise<ProbeResult> {
    this.accelProbe ??= probeAccel(this.options.qemu, this.options.scratchDir);
    this.accelProbe.catch(() => (this.accelProbe = undefined));
    return this.accelProbe;
  }

  /** What the guest's root disk is an overlay of: its image's base or disk (none for an ISO). */
  private async base(spec: GuestSpec): Promise<{ file: string; format: 'qcow2' | 'raw' } | undefined> {
    const { format, file } = spec.image;
    if (format === 'iso') return undefined;
    return { file: format === 'rootfs' ? await spec.image.bases.ensure({ as: 'qcow2' }) : file!, format: format === 'raw' ? 'raw' : 'qcow2' };
  }

  /** The guest's root disk: an overlay of its image's base or disk, or for an ISO an empty disk. */
  private async makeDisk(spec: GuestSpec, disk: string): Promise<void> {
    const { format } = spec.image;
    const sizeBytes = spec.limits.diskBytes;
    if (format === 'iso') return createDisk(disk, sizeBytes ?? isoDiskBytes);
    const { file: base, format: baseFormat } = (await this.base(spec))!;
    if (sizeBytes !== undefined) {
      const least = await virtualSize(base, baseFormat);
      if (sizeBytes < least) throw new LodgeError('BAD_REQUEST', `limits.disk: ${formatSize(sizeBytes)} is smaller than the disk of image ${spec.image.name} (${formatSize(least)})`);
    }
    await createOverlay(base, disk, { baseFormat, ...(sizeBytes !== undefined ? { sizeBytes } : {}) });
  }

  async create(spec: GuestSpec, ctx: OperationContext): Promise<{ rootBytes: number }> {
    const p = this.paths(spec);
    await mkdir(p.vm, { recursive: true });
    await mkdir(this.engine.shim(spec).dir, { recursive: true });
    if (spec.image.format === 'rootfs') await this.boot(this.profile(spec));
    ctx.signal.throwIfAborted();
    if (!spec.root?.copied) await this.makeDisk(spec, p.disk);
    // QEMU runs as the guest's own user: its directory (its sockets) and its disk are its alone, no
    // other guest's QEMU may read them; the root volume's directory stays root's (on btrfs a
    // directory of its own would let QEMU make subvolumes there, outside the volume's quota)
    await chown(p.vm, this.engine.uid(spec), this.engine.uid(spec));
    await chmod(p.vm, 0o700);
    await lchown(p.disk, this.engine.uid(spec), this.engine.uid(spec));
    await chmod(p.disk, 0o600);
    // a copied disk was another guest's QEMU's to write: its size is read by Lodge's own reader
    // (not a qemu-img of root's), and must be the one lodged recorded for the disk it copies
    const disk = await openQcow2(p.disk);
    await disk.close();
    const recorded = spec.root?.copied ? spec.root.sizeBytes : undefined;
    if (recorded !== undefined && disk.size !== recorded) throw new LodgeError('CONFLICT', `the disk copied into ${spec.name} says it is ${formatSize(disk.size)}, where its source's was ${formatSize(recorded)}`);
    return { rootBytes: disk.size };
  }

  start(spec: GuestSpec, ctx: OperationContext): Promise<void> {
    return this.launch(spec, ctx);
  }

  /** QEMU saves the paused machine through a socket in a directory of root's beside `vm/`. */
  async saveMemory(spec: GuestSpec, file: string, signal: AbortSignal): Promise<void> {
    // RAM, the VGA's memory and the devices' state: never more than twice the memory, and some
    const maxBytes = 2 * this.engine.memoryBytes(spec) + 256 * mib;
    const dir = path.join(spec.dir, 'vm-state');
    await this.qmp(spec, (q) => saveMachineState(q, { dir, uid: this.engine.uid(spec), file, maxBytes, signal }), 30_000);
  }

  markChanges(spec: GuestSpec, running: boolean, mark: string, since: string | undefined): Promise<Array<[number, number]> | undefined> {
    const uid = this.engine.uid(spec);
    if (!running) return markStopped({ file: this.paths(spec).disk, uid, mark, since });
    return this.qmp(spec, (q) => markRunning(q, { device: 'root', uid, dir: path.join(spec.dir, 'vm-changes'), mark, since }), 30_000);
  }

  /**
   * Read by Lodge's own qcow2 reader: the file is its guest's QEMU's. Its base is the one
   * this host made, and must be the one the file names (which QEMU reads), and its size the
   * one it was made with: a backup is of the disk the guest sees, or fails.
   */
  async openRootDisk(spec: GuestSpec, dir: string) {
    const base = await this.base(spec);
    const disk = await openQcow2(path.join(dir, rootDisk), async () => (base!.format === 'raw' ? fileDiskSource(base!.file) : openQcow2(base!.file)));
    const bad = (why: string) => new LodgeError('CONFLICT', `the disk of ${spec.name} ${why}: it is not backed up`);
    try {
      if (disk.backingName !== base?.file) throw bad(disk.backingName === undefined ? 'has no backing file' : `names ${disk.backingName} as its backing file, not its image's base ${base?.file ?? '(none: an ISO)'}`);
      const size = spec.root?.sizeBytes;
      if (size !== undefined && disk.size !== size) throw bad(`says it is ${disk.size} bytes, not the ${size} it was made with`);
    } catch (e) {
      await disk.close();
      throw e;
    }
    return disk;
  }

  async adoptRootDisk(spec: GuestSpec, dir: string, raw: string, _layout: Buffer | undefined, signal: AbortSignal): Promise<void> {
    try {
      await qcow2OverBase(raw, path.join(dir, rootDisk), await this.base(spec), signal);
    } finally {
      await rm(raw, { force: true });
    }
  }

  startFromMemory(spec: GuestSpec, file: string, ctx: OperationContext): Promise<void> {
    return this.launch(spec, ctx, file);
  }

  /** Starts QEMU: booting, or with `incoming`, from a saved state of the machine. */
  private async launch(spec: GuestSpec, ctx: OperationContext, incoming?: string): Promise<void> {
    const p = this.paths(spec);
    for (const f of [p.qmp, p.qga, p.exec, p.vnc]) await rm(f, { force: true });
    const profile = this.profile(spec);
    const mode = spec.options.accel ?? 'auto';
    const accel = chooseAccel(mode, mode === 'tcg' ? undefined : await this.probeAccel());
    const kernelBoot = spec.image.format === 'rootfs' ? await this.boot(profile) : undefined;
    const seed = spec.options.userData === undefined ? undefined : path.join(p.vm, 'cloud-seed.iso');
    if (seed) {
      await makeCloudSeed(seed, { userData: spec.options.userData!, instanceId: spec.id, hostname: spec.name });
      await lchown(seed, this.engine.uid(spec), this.engine.uid(spec));
    }
    const argv = qemuArgv({
      binary: this.options.qemu,
      name: spec.name,
      accel,
      memoryBytes: this.engine.memoryBytes(spec),
      mergeable: this.options.mergeable ?? true,
      cpus: Math.max(1, Math.ceil(spec.limits.cpu ?? 1)),
      // as many as the host has: a vCPU more than that only queues for the same cores
      maxCpus: availableParallelism(),
      profile,
      boot: kernelBoot ? { kind: 'kernel', kernel: kernelBoot.kernel.vmlinuz, initrd: kernelBoot.initrd, init: spec.image.init } : { kind: 'firmware' },
      disk: p.disk,
      ...(spec.image.format === 'iso' ? { cdrom: spec.image.file! } : {}),
      ...(seed ? { seed } : {}),
      disks: spec.volumes.map((v) => ({ slot: v.slot, file: v.file, serial: diskSerial(v) })),
      qmpSocket: p.qmp,
      qgaSocket: p.qga,
      execSocket: p.exec,
      vncSocket: p.vnc,
      nics: spec.nics.map((n) => ({ tap: n.hostDevice, mac: n.mac, address: n.address, gateway: n.gateway })),
      incoming: incoming !== undefined,
    });
    const machine: MachineRecord = {
      accel: accel.accel,
      accelReason: accel.reason,
      cpuModel: accel.cpu,
      memoryBytes: this.engine.memoryBytes(spec),
      profile,
      boot: kernelBoot ? 'kernel' : 'firmware',
      vncSocket: p.vnc,
    };
    // spec.dir is root's alone: the record appears whole, by rename, and no link is followed
    const temp = `${p.machine}.tmp-${randomBytes(4).toString('hex')}`;
    await writeFile(temp, JSON.stringify(machine), { flag: 'wx', mode: 0o644 });
    await rename(temp, p.machine);
    await rm(p.oldMachine, { force: true });
    await this.ownDisks(spec, spec.volumes);
    await this.engine.start(spec, argv, ctx, async () => {
      // QEMU makes its QMP socket early and answers on it once the machine is built: a QEMU
      // that refused a disk or an option has ended by then, and its reason is on the console
      const shim = this.engine.shim(spec);
      for (let i = 0; i < 200 && !existsSync(p.qmp) && !existsSync(shim.exit); i++) {
        ctx.signal.throwIfAborted();
        await new Promise((r) => setTimeout(r, 50));
      }
      const status = existsSync(p.qmp) ? await this.qmp(spec, (q) => q.status(), 10_000).catch(() => undefined) : undefined;
      if (!status) {
        await waitForExit(shim, 2000);
        throw new Error(`QEMU did not start: ${(await readFile(shim.log, 'utf8').catch(() => '')).slice(-2000).trim()}`);
      }
      if (incoming) {
        const socket = path.join(p.vm, 'state.sock');
        await this.qmp(spec, (q) => loadMachineState(q, { socket, file: incoming, what: `the state socket of ${spec.name}'s QEMU`, signal: ctx.signal }), 30_000);
      }
    });
  }

  private async started(spec: GuestSpec): Promise<MachineRecord | undefined> {
    const p = this.paths(spec);
    const read = { what: `the machine record of ${spec.name}`, maxBytes: 64 * 1024 };
    const ours = await readUntrustedJson(p.machine, read);
    if (ours) return ours as MachineRecord;
    // an earlier lodged's record sits where QEMU could have replaced it: taken only when it reads as one, else there is none
    const old = await readUntrustedJson(p.oldMachine, read).catch(() => undefined);
    return Value.Check(OldMachineRecord, old) ? old : undefined;
  }

  /**
   * A running guest keeps the memory it booted with: a smaller --memory inflates the
   * balloon (virtio profile) so the guest gives memory back, a larger one waits for the next
   * start. The cgroup stays sized for the booted memory, since a guest may ignore the balloon.
   */
  override async setLimits(spec: GuestSpec, limits: ResolvedLimits): Promise<LimitsAtNextStart | void> {
    const machine = (await this.observe(spec)).state === 'running' ? await this.started(spec) : undefined;
    if (!machine) return this.engine.setLimits(spec, limits);
    // the CPU time it may use changes now (its cgroup); its vCPUs are plugged in or out (vcpus.ts), as far as its machine has room
    const vcpus = Math.max(1, Math.ceil(limits.cpu ?? 1));
    const { later: cpusLater, plugged, count } = await this.qmp(spec, (q) => setVcpus(q, vcpus, machine.accel !== 'tcg'), 30_000);
    // a guest without an agent onlines them itself (a udev rule), or leaves them offline
    if (plugged) await this.exec(spec, { command: onlineCpus(count) }).catch(() => undefined);
    const later: LimitsAtNextStart = cpusLater ? [cpusLater] : [];
    if (limits.memoryBytes === undefined) {
      await this.engine.setLimits(spec, limits);
      return later;
    }
    if (limits.memoryBytes > machine.memoryBytes) {
      throw new LodgeError('BAD_REQUEST', `limits.memory: a running vm cannot grow past the ${formatSize(machine.memoryBytes)} it booted with; stop it, set the limit, start it`);
    }
    if (machine.profile !== 'virtio') throw new LodgeError('BAD_REQUEST', 'limits.memory: a running vm on the legacy profile has no balloon; stop it to change its memory');
    await this.qmp(spec, (q) => q.balloon(limits.memoryBytes!));
    await this.engine.setLimits(spec, { ...limits, memoryBytes: machine.memoryBytes });
    return later;
  }

  async memoryMechanism(spec: GuestSpec): Promise<string | undefined> {
    return (await this.started(spec))?.profile === 'virtio' ? 'balloon' : undefined;
  }

  /** Its balloon's size, and what the guest uses of it: all but what it says is available (its balloon asked to poll the guest's counters). */
  async memoryReading(spec: GuestSpec): Promise<MemoryReading | undefined> {
    if ((await this.memoryMechanism(spec)) === undefined) return undefined;
    return this.qmp(
      spec,
      async (q) => {
        const actual = count((await q.balloonInfo()).actual);
        await q.execute('qom-set', { path: balloonPath, property: 'guest-stats-polling-interval', value: statsPollSeconds });
        const available = balloonAvailableBytes(await q.execute('qom-get', { path: balloonPath, property: 'guest-stats' }));
        // what the guest's kernel keeps for itself is outside its MemTotal: used, as far as the loop is concerned
        return actual > 0 && available !== undefined ? { allocationBytes: actual, usedBytes: Math.max(0, actual - available) } : undefined;
      },
      statsTimeoutMs,
    ).catch(() => undefined);
  }

  /** The balloon's target, never past the memory it booted with; its cgroup stays sized for that. */
  async setMemoryAllocation(spec: GuestSpec, bytes: number): Promise<void> {
    const machine = await this.started(spec);
    if (!machine || machine.profile !== 'virtio') throw new LodgeError('UNSUPPORTED', `${spec.name} has no balloon (legacy profile)`);
    await this.qmp(spec, (q) => q.balloon(Math.min(bytes, machine.memoryBytes)));
  }

  /** How the guest was started; while it runs, its vCPU time, balloon and disk counters from QMP. */
  async machine(spec: GuestSpec, pid: number | undefined): Promise<Machine | undefined> {
    const machine = await this.started(spec);
    if (!machine || pid === undefined) return machine;
    const stats = await this.qmp(spec, async (q) => {
      // QMP's answers come from the guest's QEMU: only numbers are taken from them
      const cpus = await q.cpus();
      const threads = cpus.map((c) => c['thread-id']).filter((t) => Number.isSafeInteger(t) && t > 0);
      const ticks = await Promise.all(threads.map((t) => readFile(`/proc/${pid}/task/${t}/stat`, 'utf8').then(cpuTicks, () => 0)));
      const disks = await q.blockStats();
      const balloon = machine.profile === 'virtio' ? (await q.balloonInfo().catch(() => undefined))?.actual : undefined;
      const sum = (field: string) => disks.reduce((a, d) => a + count(d?.stats?.[field]), 0);
      return {
        vcpuSeconds: ticks.reduce((a, b) => a + b, 0) / 100,
        ...(balloon !== undefined ? { balloonBytes: count(balloon) } : {}),
        diskReadBytes: sum('rd_bytes'),
        diskWrittenBytes: sum('wr_bytes'),
        diskReads: sum('rd_operations'),
        diskWrites: sum('wr_operations'),
      };
    }, statsTimeoutMs).catch((e: Error) => e);
    return { ...machine, ...(stats instanceof Error ? { statsUnavailable: stats.message } : { stats }) };
  }

  /** A QMP session on the guest's socket, reached without following a link; each step waits at most `timeoutMs`. */
  private async qmp<T>(spec: GuestSpec, use: (qmp: Qmp) => Promise<T>, timeoutMs = 5000): Promise<T> {
    const file = this.paths(spec).qmp;
    return withUntrustedSocket(file, `the QMP socket of ${spec.name}`, async (socket) => {
      const qmp = await Qmp.connect(socket, timeoutMs, file);
      try {
        return await use(qmp);
      } finally {
        qmp.close();
      }
    });
  }

  /** The screen QEMU serves on the VNC socket in its own directory, reached without following a link. */
  connectVga(spec: GuestSpec): Promise<Socket> {
    const what = `the VNC socket of ${spec.name}`;
    return withUntrustedSocket(this.paths(spec).vnc, what, (name) =>
      new Promise<Socket>((resolve, reject) => {
        const socket = net.connect(name);
        socket.once('error', (e) => reject(new LodgeError('ENGINE_FAILED', `${what} does not answer`, { cause: e })));
        socket.once('connect', () => {
          // until the caller listens for errors itself (after the handle closes), one must not end lodged
          socket.removeAllListeners('error').on('error', () => {});
          resolve(socket);
        });
      }),
    );
  }

  stop(spec: GuestSpec, options: StopOptions): Promise<StopOutcome> {
    return this.engine.stop(spec, options, (deadline) =>
      this.qmp(
        spec,
        async (q) => {
          // a paused guest cannot act on the power button
          await q.cont();
          await q.powerdown();
        },
        untilDeadline(deadline),
      ),
    );
  }

  async pause(spec: GuestSpec): Promise<void> {
    await this.qmp(spec, (q) => q.stop());
  }

  diskDevice(spec: GuestSpec, disk: AttachedDisk): string {
    return this.profile(spec) === 'virtio' ? `/dev/disk/by-id/virtio-${diskSerial(disk)}` : `/dev/disk/by-id/ata-QEMU_HARDDISK_${diskSerial(disk)}`;
  }

  /** A volume's file is its QEMU's to open (QEMU runs as the guest's own user) while it has it. */
  private async ownDisks(spec: GuestSpec, disks: AttachedDisk[]): Promise<void> {
    for (const d of disks) await lchown(d.file, this.engine.uid(spec), this.engine.uid(spec));
  }

  private refuseLegacyHotplug(spec: GuestSpec, what: string): void {
    if (this.profile(spec) !== 'virtio') throw new LodgeError('CONFLICT', `${spec.name} runs on the legacy profile, whose AHCI disks cannot ${what} while it runs: stop it first`);
  }

  async attachDisk(spec: GuestSpec, disk: AttachedDisk): Promise<void> {
    this.refuseLegacyHotplug(spec, 'be plugged in');
    await this.ownDisks(spec, [disk]);
    await this.qmp(spec, async (q) => {
      await q.execute('blockdev-add', volumeBlockdev(disk.slot, disk.file));
      try {
        await q.execute('device_add', volumeDevice('virtio', disk.slot, diskSerial(disk)));
      } catch (e) {
        await q.execute('blockdev-del', { 'node-name': `vol${disk.slot}` }).catch(() => {});
        throw e;
      }
    });
  }

  /** Asks the guest to give the disk back and waits until it has (its OS must let go of it). */
  async detachDisk(spec: GuestSpec, disk: AttachedDisk): Promise<void> {
    this.refuseLegacyHotplug(spec, 'be unplugged');
    const id = volumeDevice('virtio', disk.slot, diskSerial(disk)).id;
    await this.qmp(
      spec,
      async (q) => {
        const deleted = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new LodgeError('CONFLICT', `${spec.name} did not give back ${disk.name} within ${unplugTimeoutMs / 1000} s: unmount it in the guest (its OS must support PCIe hot-unplug) and detach it again`)), unplugTimeoutMs);
          q.events((event, data) => {
            if (event === 'DEVICE_DELETED' && (data as { device?: unknown } | undefined)?.device === id) {
              clearTimeout(timer);
              resolve();
            }
          });
        });
        // not waited for when the disk is gone already
        deleted.catch(() => {});
        // a disk the guest no longer has (plugged out before a lodged crashed) is detached already
        const gone = await q.execute('device_del', { id }).then(
          () => false,
          (e: Error) => {
            if (/DeviceNotFound/.test(e.message)) return true;
            throw e;
          },
        );
        if (!gone) await deleted;
        await q.execute('blockdev-del', { 'node-name': `vol${disk.slot}` }).catch((e: Error) => {
          if (!gone) throw e;
        });
      },
      unplugTimeoutMs + 5000,
    );
  }

  async resume(spec: GuestSpec): Promise<void> {
    await this.qmp(spec, (q) => q.cont());
  }

  /**
   * Exec as streams through lodge-execd where the guest runs it (it holds its port open);
   * undefined where it does not (an image with only a QEMU guest agent, a machine started by
   * an earlier Lodge): such an exec runs whole, through the guest agent.
   */
  async execStream(spec: GuestSpec, request: ExecRequest): Promise<ExecProcess | undefined> {
    return (await this.execdListens(spec)) ? this.execLinks.open(spec, this.paths(spec).exec, request) : undefined;
  }

  /** exec -t: on a terminal of the guest's own, through lodge-execd (QGA has none). */
  async execTerminal(spec: GuestSpec, request: ExecRequest, size: TerminalSize): Promise<TerminalProcess> {
    if (!(await this.execdListens(spec))) throw execdMissing(spec.name);
    return this.execLinks.open(spec, this.paths(spec).exec, request, size);
  }

  /**
   * Its console's holder and QEMU's monitor (a QEMU that no longer answers it has stopped its
   * main loop, the serial console's with it), and its guest agent where it has a port for one.
   */
  async probeHealth(spec: GuestSpec): Promise<HealthProbe> {
    const held = shimAnswers(this.engine.shim(spec));
    const console = held?.answers === false ? held : await this.qmp(spec, (q) => q.execute('query-status')).then(
      (): Answering => held ?? { answers: true },
      (e: Error): Answering => ({ answers: false, why: `QEMU does not answer its monitor: ${e.message}` }),
    );
    if (!existsSync(this.paths(spec).qga)) return console ? { console } : {};
    const agent = await this.agent(spec, `guest-ping in ${spec.name}`, (qga) => qga.request('guest-ping', undefined, agentTimes.syncMs)).then(
      () => ({ answers: true }),
      (e: Error) => ({ answers: false, why: e.message }),
    );
    return { ...(console ? { console } : {}), agent: { name: 'guest agent', ...agent } };
  }

  /** Whether lodge-execd holds the guest's exec port open (QEMU knows when the guest has). */
  private async execdListens(spec: GuestSpec): Promise<boolean> {
    if (!existsSync(this.paths(spec).exec)) return false;
    const chardevs = await this.qmp(spec, (q) => q.execute<unknown>('query-chardev'));
    return Array.isArray(chardevs) && chardevs.some((c: { label?: unknown; 'frontend-open'?: unknown }) => c?.label === 'lodge-exec' && c['frontend-open'] === true);
  }

  exec(spec: GuestSpec, request: ExecPost): Promise<ExecResult> {
    return this.agent(spec, `exec in ${spec.name}`, (qga) => guestExec(qga, spec.name, request, agentTimes), `exec in ${spec.name} failed`);
  }

  /** Through the guest agent, as an exec: the guest's own kernel resolves the path (files are refused while it is stopped). */
  pushFile(spec: GuestSpec, _guest: ObservedState, push: FilePush): Promise<GuestFileInfo> {
    const what = `cannot push ${push.path} into ${spec.name}`;
    return this.agent(spec, what, (qga) => pushFile({ qga, name: spec.name, what, times: agentTimes }, push));
  }

  pullFile(spec: GuestSpec, _guest: ObservedState, guestPath: string, dest: string, maxBytes: number): Promise<GuestFileInfo> {
    const what = `cannot pull ${guestPath} from ${spec.name}`;
    return this.agent(spec, what, (qga) => pullFile({ qga, name: spec.name, what, times: agentTimes }, guestPath, dest, maxBytes));
  }

  /**
   * Runs `use` on the guest's agent connection, made (and synced) if no exec or file copy holds
   * one, ended when the last one using it is done. The socket is reached without following a
   * link. `what` begins the errors ("exec in NAME", "cannot push PATH into NAME"); `failed` is the
   * error when the agent broke the protocol, its cause saying how.
   */
  private async agent<T>(spec: GuestSpec, what: string, use: (qga: Qga) => Promise<T>, failed = what): Promise<T> {
    let mine = this.agents.get(spec.id);
    if (!mine || mine.failed || mine.connected?.ended) {
      const file = this.paths(spec).qga;
      // the callbacks run once the connection is made or has failed, after `made` exists
      const made: AgentConnection = {
        users: 0,
        failed: false,
        qga: withUntrustedSocket(file, `the guest agent socket of ${spec.name}`, (name) => Qga.connect(name, agentTimes.syncMs)).then(
          (qga) => (made.connected = qga),
          (e: Error) => {
            made.failed = true;
            throw e;
          },
        ),
      };
      this.agents.set(spec.id, (mine = made));
    }
    mine.users++;
    try {
      const qga = await mine.qga.catch((e: Error) => {
        // a guest started by an earlier Lodge has no agent port
        if (!existsSync(this.paths(spec).qga)) throw new LodgeError('CONFLICT', `${what}: it has no guest agent port (it was started by an earlier Lodge): restart it`);
        if (e instanceof LodgeError) throw e;
        throw new LodgeError('UNAVAILABLE', `${what}: its guest agent does not answer (install qemu-guest-agent in the image, or wait for the boot to finish)`, { cause: e });
      });
      return await use(qga);
    } catch (e) {
      if (e instanceof QgaError) throw new LodgeError('ENGINE_FAILED', failed, { cause: e });
      throw e;
    } finally {
      if (--mine.users === 0) {
        if (this.agents.get(spec.id) === mine) this.agents.delete(spec.id);
        mine.qga.then((q) => q.close(), () => {});
      }
    }
  }
}

/** A guest's agent connection while execs and file copies use it; `failed` and `connected` are read without waiting. */
interface AgentConnection {
  qga: Promise<Qga>;
  connected?: Qga;
  failed: boolean;
  users: number;
}

/** A counter from QMP, or 0 for anything that is not a whole number. */
const count = (n: unknown): number => (Number.isSafeInteger(n) && (n as number) >= 0 ? (n as number) : 0);

/** utime + stime of a /proc/PID/task/TID/stat line, in clock ticks (USER_HZ, 100 on Linux). */
function cpuTicks(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
