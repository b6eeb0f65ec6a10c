/**
 * @module Full virtual machines (`vm`): one qemu-system-x86_64 per guest as an
 * EngineProcess (shim, own cgroup, own uid), with -sandbox on, booting Debian's cloud
 * kernel (direct kernel boot) with a small initramfs that mounts the guest's qcow2 disk,
 * an overlay on the image's shared base. Its serial console is the shim's pty (bounded
 * log, several viewers, exit status); it is driven through QMP.
 */
import { existsSync } from 'node:fs';
import { chown, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LodgeError } from '../../api/errors.js';
import { buildInitramfs } from '../../images/initramfs.js';
import { ensureVmKernel, type VmKernel } from '../../images/vm-kernel.js';
import { run } from '../../lib/exec.js';
import { Inflight } from '../../lib/inflight.js';
import { createOverlay, ensureQcow2Base } from '../../storage/qcow2.js';
import type { DriverInfo, GuestDriver, GuestSpec, InteractiveCommand, StopOptions } from '../driver.js';
import { EngineDriver, EngineProcess, untilDeadline } from '../engine-process.js';
import { waitForExit } from '../shim.js';
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
/** What the initramfs loads: the disk (virtio), and the ACPI power button with its event device. */
const initramfsModules = ['virtio_pci', 'virtio_blk', 'button', 'evdev'];

export class VmDriver extends EngineDriver implements GuestDriver {
  readonly kind = 'vm' as const;
  private readonly options: VmDriverOptions;
  protected readonly engine: EngineProcess;
  /** Bases being made, so that concurrent launches of one image wait for one. */
  private readonly bases = new Inflight<string>();
  /** The kernel and initramfs, found (or made) once per lodged: asking apt each launch costs about a second. */
  private bootFiles: Promise<VmKernel & { initrd: string }> | undefined;

  constructor(options: VmDriverOptions) {
    super();
    this.options = options;
    // QEMU's own memory beside the guest's: TCG's translation cache, device emulation
    this.engine = new EngineProcess({ ...options, defaultMemoryBytes: vmMemory.defaultBytes, overheadBytes: 256 * mib });
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
    return { vm, disk: path.join(vm, 'root.qcow2'), qmp: path.join(vm, 'qmp.sock') };
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

  private base(spec: GuestSpec): Promise<string> {
    return this.bases.run(spec.image.rootfs, () => ensureQcow2Base(spec.image.rootfs));
  }

  async create(spec: GuestSpec): Promise<void> {
    const p = this.paths(spec);
    await mkdir(p.vm, { recursive: true });
    await mkdir(this.engine.shim(spec).dir, { recursive: true });
    await this.boot();
    await createOverlay(await this.base(spec), p.disk, spec.limits.diskBytes);
    // QEMU runs as the guest's own user: its directory and disk are its to write
    await chown(p.vm, this.engine.uid(spec), this.engine.uid(spec));
    await chown(p.disk, this.engine.uid(spec), this.engine.uid(spec));
  }

  async start(spec: GuestSpec): Promise<void> {
    const p = this.paths(spec);
    await rm(p.qmp, { force: true });
    const boot = await this.boot();
    const argv = qemuArgv({
      binary: this.options.qemu,
      name: spec.name,
      accel: 'tcg',
      memoryBytes: this.engine.memoryBytes(spec),
      cpus: Math.max(1, Math.ceil(spec.limits.cpu ?? 1)),
      kernel: boot.vmlinuz,
      initrd: boot.initrd,
      disk: p.disk,
      qmpSocket: p.qmp,
      init: spec.image.init,
    });
    await this.engine.start(spec, argv, async () => {
      // QEMU makes its QMP socket early and answers on it once the machine is built: a QEMU
      // that refused a disk or an option has ended by then, and its reason is on the console
      const shim = this.engine.shim(spec);
      for (let i = 0; i < 200 && !existsSync(p.qmp) && !existsSync(shim.exit); i++) await new Promise((r) => setTimeout(r, 50));
      const status = existsSync(p.qmp) ? await this.qmp(spec, (q) => q.status(), 10_000).catch(() => undefined) : undefined;
      if (!status) {
        await waitForExit(shim, 2000);
        throw new Error(`QEMU did not start: ${(await readFile(shim.log, 'utf8').catch(() => '')).slice(-2000).trim()}`);
      }
    });
  }

  private async qmp<T>(spec: GuestSpec, use: (qmp: Qmp) => Promise<T>, timeoutMs = 5000): Promise<T> {
    const qmp = await Qmp.connect(this.paths(spec).qmp, timeoutMs);
    try {
      return await use(qmp);
    } finally {
      qmp.close();
    }
  }

  stop(spec: GuestSpec, options: StopOptions): Promise<void> {
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

  async resume(spec: GuestSpec): Promise<void> {
    await this.qmp(spec, (q) => q.cont());
  }

  exec(spec: GuestSpec): never {
    throw new LodgeError('UNSUPPORTED', `exec is not available in vm guests yet: lodge console ${spec.name} is their terminal`);
  }

  interactive(spec: GuestSpec): InteractiveCommand {
    return this.exec(spec);
  }
}
