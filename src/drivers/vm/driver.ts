/**
 * @module Full virtual machines (`vm`): one qemu-system-x86_64 per guest, booting
 * Debian's cloud kernel (direct kernel boot) with a small initramfs that mounts the
 * guest's qcow2 disk, an overlay on the image's shared base. QEMU runs under a
 * lodge-shim (its serial console is the shim's pty: bounded log, several viewers, exit
 * status), in its own cgroup, as an unprivileged uid of its own, with -sandbox on; it is
 * driven through QMP.
 */
import { existsSync } from 'node:fs';
import { chown, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LodgeError } from '../../api/errors.js';
import { cgroupVersion, createCgroup, destroyCgroup, readUsage, setCgroupLimits, type CgroupVersion } from '../../host/cgroups.js';
import { buildInitramfs } from '../../images/initramfs.js';
import { ensureVmKernel, type VmKernel } from '../../images/vm-kernel.js';
import { run } from '../../lib/exec.js';
import { createOverlay, ensureQcow2Base } from '../../storage/qcow2.js';
import type { ConsolePaths, DriverInfo, GuestDriver, GuestSpec, InteractiveCommand, ObservedState, ResolvedLimits, StopOptions } from '../driver.js';
import { guestUid } from '../guest-uid.js';
import { consolePaths, observeShim, shimPaths, startShim, waitForExit } from '../shim.js';
import { qemuArgv } from './argv.js';
import { Qmp } from './qmp.js';

export interface VmDriverOptions {
  qemu: string;
  kernelCacheDir: string;
  busybox: string;
  shimBinary: string;
  cgroupParent: string;
  consoleLogBytes: number;
}

const mib = 1024 * 1024;
export const vmMemory = { minimumBytes: 96 * mib, defaultBytes: 256 * mib } as const;
/** QEMU's own memory beside the guest's (TCG's translation cache, device emulation). */
const hostOverheadBytes = 256 * mib;
/** What the initramfs loads: the disk (virtio), and the ACPI power button with its event device. */
const initramfsModules = ['virtio_pci', 'virtio_blk', 'button', 'evdev'];

export class VmDriver implements GuestDriver {
  readonly kind = 'vm' as const;
  private readonly cgroups: CgroupVersion = cgroupVersion();
  private readonly options: VmDriverOptions;
  /** Work done once per image, shared by concurrent launches. */
  private readonly once = new Map<string, Promise<unknown>>();
  /** The kernel and initramfs, found (or made) once per lodged: asking apt each launch costs about a second. */
  private bootFiles: Promise<VmKernel & { initrd: string }> | undefined;

  constructor(options: VmDriverOptions) {
    this.options = options;
  }

  private shared<T>(key: string, make: () => Promise<T>): Promise<T> {
    let pending = this.once.get(key) as Promise<T> | undefined;
    if (!pending) {
      pending = make().finally(() => this.once.delete(key));
      this.once.set(key, pending);
    }
    return pending;
  }

  async probe(): Promise<DriverInfo> {
    const missing = !existsSync(this.options.qemu)
      ? `${this.options.qemu} is missing: install the Debian package qemu-system-x86`
      : (await run(['qemu-img', '--version'], { allowFailure: true }).catch(() => undefined))?.code !== 0
        ? 'qemu-img is missing: install the Debian package qemu-utils'
        : !existsSync(this.options.shimBinary)
          ? `lodge-shim is missing at ${this.options.shimBinary} (run npm run build)`
          : undefined;
    if (missing) return { kind: 'vm', available: false, engine: missing };
    const version = (await run([this.options.qemu, '--version'])).stdout.split('\n')[0]!.trim();
    return { kind: 'vm', available: true, engine: `${version}, TCG (software emulation): KVM is not probed yet, and these hosts' KVM is slow`, memory: vmMemory };
  }

  private paths(spec: GuestSpec) {
    const vm = path.join(spec.dir, 'vm');
    return { vm, disk: path.join(vm, 'root.qcow2'), qmp: path.join(vm, 'qmp.sock'), shim: shimPaths(path.join(spec.dir, 'shim')) };
  }

  private cgroupPath(spec: GuestSpec): string {
    return `${this.options.cgroupParent}/${spec.id}`;
  }

  /** The kernel and, beside it, the initramfs made for it. */
  private boot(): Promise<VmKernel & { initrd: string }> {
    this.bootFiles ??= (async () => {
      const kernel = await ensureVmKernel(this.options.kernelCacheDir);
      const initrd = path.join(path.dirname(kernel.vmlinuz), 'lodge-initrd.gz');
      if (!existsSync(initrd)) {
        await writeFile(`${initrd}.tmp`, await buildInitramfs(kernel.modulesDir, this.options.busybox, initramfsModules));
        await rename(`${initrd}.tmp`, initrd);
      }
      return { ...kernel, initrd };
    })();
    // a failed attempt (no network, no package index) is tried again on the next launch
    this.bootFiles.catch(() => (this.bootFiles = undefined));
    return this.bootFiles;
  }

  private cgroupLimits(limits: ResolvedLimits) {
    const memoryBytes = (limits.memoryBytes ?? vmMemory.defaultBytes) + hostOverheadBytes;
    return { ...(limits.cpu !== undefined ? { cpu: limits.cpu } : {}), memoryBytes, ...(limits.processes !== undefined ? { processes: limits.processes } : {}) };
  }

  async create(spec: GuestSpec): Promise<void> {
    if (spec.privileged) throw new LodgeError('BAD_REQUEST', 'privileged: applies to ct guests only');
    const p = this.paths(spec);
    await mkdir(p.vm, { recursive: true });
    await mkdir(p.shim.dir, { recursive: true });
    await this.boot();
    const base = await this.shared(`base:${spec.image.rootfs}`, () => ensureQcow2Base(spec.image.rootfs));
    await createOverlay(base, p.disk, spec.limits.diskBytes);
    // QEMU runs as the guest's own user: its directory and disk are its to write
    await chown(p.vm, guestUid(spec.id), guestUid(spec.id));
    await chown(p.disk, guestUid(spec.id), guestUid(spec.id));
  }

  async start(spec: GuestSpec): Promise<void> {
    const p = this.paths(spec);
    for (const f of [p.shim.exit, p.shim.pidfile, p.qmp]) await rm(f, { force: true });
    const boot = await this.boot();
    const join = await createCgroup(this.cgroups, this.cgroupPath(spec), this.cgroupLimits(spec.limits));
    try {
      await startShim({
        binary: this.options.shimBinary,
        paths: p.shim,
        consoleSocket: false,
        logMaxBytes: this.options.consoleLogBytes,
        join,
        user: guestUid(spec.id),
        argv: qemuArgv({
          binary: this.options.qemu,
          name: spec.name,
          accel: 'tcg',
          memoryBytes: spec.limits.memoryBytes ?? vmMemory.defaultBytes,
          cpus: Math.max(1, Math.ceil(spec.limits.cpu ?? 1)),
          kernel: boot.vmlinuz,
          initrd: boot.initrd,
          disk: p.disk,
          qmpSocket: p.qmp,
          init: spec.image.init,
        }),
      });
      // QEMU makes its QMP socket early and answers on it once the machine is built: a QEMU that
      // refused a disk or an option has ended by then, and its reason is on the console
      for (let i = 0; i < 200 && !existsSync(p.qmp) && !existsSync(p.shim.exit); i++) await new Promise((r) => setTimeout(r, 50));
      const status = existsSync(p.qmp) ? await this.qmp(spec, (q) => q.status(), 10_000).catch(() => undefined) : undefined;
      if (!status) {
        await waitForExit(p.shim, 2000);
        throw new Error(`QEMU did not start: ${(await readFile(p.shim.log, 'utf8').catch(() => '')).slice(-2000).trim()}`);
      }
    } catch (e) {
      await destroyCgroup(this.cgroups, this.cgroupPath(spec));
      throw e;
    }
  }

  private async qmp<T>(spec: GuestSpec, use: (qmp: Qmp) => Promise<T>, timeoutMs = 5000): Promise<T> {
    const qmp = await Qmp.connect(this.paths(spec).qmp, timeoutMs);
    try {
      return await use(qmp);
    } finally {
      qmp.close();
    }
  }

  async stop(spec: GuestSpec, options: StopOptions): Promise<void> {
    const p = this.paths(spec);
    if (!options.force && !existsSync(p.shim.exit)) {
      const deadline = Date.now() + options.timeoutMs;
      // a paused guest cannot act on the power button
      await this.qmp(spec, async (q) => {
        await q.cont();
        await q.powerdown();
      }, Math.max(100, Math.min(5000, options.timeoutMs))).catch(() => {});
      await waitForExit(p.shim, Math.max(0, deadline - Date.now()));
    }
    await destroyCgroup(this.cgroups, this.cgroupPath(spec));
    if (!(await waitForExit(p.shim, 10_000))) throw new Error(`${spec.name} did not end after SIGKILL`);
  }

  async pause(spec: GuestSpec): Promise<void> {
    await this.qmp(spec, (q) => q.stop());
  }

  async resume(spec: GuestSpec): Promise<void> {
    await this.qmp(spec, (q) => q.cont());
  }

  observe(spec: GuestSpec): Promise<ObservedState> {
    return observeShim(this.paths(spec).shim);
  }

  async setLimits(spec: GuestSpec, limits: ResolvedLimits): Promise<void> {
    // vCPUs and memory are the machine's and apply at the next start; the cgroup cap changes now
    await setCgroupLimits(this.cgroups, this.cgroupPath(spec), this.cgroupLimits(limits));
  }

  exec(spec: GuestSpec): never {
    throw new LodgeError('UNSUPPORTED', `exec is not available in vm guests yet: lodge console ${spec.name} is their terminal`);
  }

  interactive(spec: GuestSpec): InteractiveCommand {
    return this.exec(spec);
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
