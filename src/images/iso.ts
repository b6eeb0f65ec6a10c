/**
 * @module The busybox-iso image: a live ISO that boots the way an unmodified OS does,
 * firmware (SeaBIOS) → boot loader (GRUB from El Torito) → kernel, made with
 * grub-mkrescue. It holds Debian's cloud kernel, Lodge's initramfs and the busybox root
 * filesystem as a second archive, so it needs no disk: the guest runs from memory.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LodgeError } from '../api/errors.js';
import { run } from '../lib/exec.js';
import { buildBusybox } from './busybox.js';
import { buildInitramfs, directoryArchive } from './initramfs.js';
import { ensureVmKernel } from './vm-kernel.js';

/** What the live system loads before init: the ACPI power button, for a graceful stop. */
const liveModules = ['button', 'evdev'];

const grubConfig = `serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
menuentry "Lodge busybox (live)" {
  linux /boot/vmlinuz console=ttyS0 quiet LODGE_KIND=vm LODGE_ROOT=initramfs
  initrd /boot/lodge-initrd.gz /boot/rootfs.gz
}
`;

export const busyboxIsoImage = { init: '/sbin/init', stopSignal: 'SIGUSR2' } as const;

/** Writes the ISO to `target`; `kernelCacheDir` is where the vm kernels are kept. */
export async function buildBusyboxIso(target: string, kernelCacheDir: string, busybox: string, step: (what: string) => void): Promise<void> {
  if (!existsSync('/usr/bin/grub-mkrescue') || !existsSync('/usr/lib/grub/i386-pc')) {
    throw new LodgeError('UNAVAILABLE', 'grub-mkrescue with BIOS support is missing: install the Debian packages grub-common, grub-pc-bin and xorriso');
  }
  step('fetching the cloud kernel');
  const kernel = await ensureVmKernel(kernelCacheDir, 'cloud-amd64');
  const work = await mkdtemp(path.join(path.dirname(target), 'iso-'));
  try {
    step('making the root filesystem');
    const rootfs = path.join(work, 'rootfs');
    await buildBusybox(rootfs);
    const tree = path.join(work, 'tree');
    await mkdir(path.join(tree, 'boot/grub'), { recursive: true });
    await copyFile(kernel.vmlinuz, path.join(tree, 'boot/vmlinuz'));
    await writeFile(path.join(tree, 'boot/lodge-initrd.gz'), await buildInitramfs(kernel.modulesDir, busybox, liveModules));
    await writeFile(path.join(tree, 'boot/rootfs.gz'), await directoryArchive(rootfs));
    await writeFile(path.join(tree, 'boot/grub/grub.cfg'), grubConfig);
    step('writing the ISO with grub-mkrescue');
    await run(['grub-mkrescue', '-o', target, tree], { timeoutMs: 300_000 });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
