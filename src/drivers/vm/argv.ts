/**
 * @module The qemu-system-x86_64 command line of a vm guest, made from its settings.
 * Pure: no I/O, table-tested beside it.
 */

export interface QemuArgvInput {
  binary: string;
  name: string;
  accel: 'tcg' | 'kvm';
  memoryBytes: number;
  cpus: number;
  kernel: string;
  initrd: string;
  /** The guest's qcow2 overlay over the image's shared base. */
  disk: string;
  qmpSocket: string;
  init: string;
}

const mib = 1024 * 1024;

export function qemuArgv(i: QemuArgvInput): string[] {
  return [
    i.binary,
    '-name', `guest=${i.name}`,
    '-nodefaults', '-no-user-config',
    // q35, not microvm: under TCG microvm hangs in early boot about one time in five (no HPET or PM timer)
    '-machine', 'q35',
    '-accel', i.accel,
    // -cpu host fails on these hosts' MSRs; max is what TCG offers
    '-cpu', i.accel === 'kvm' ? 'host' : 'max',
    '-m', `${Math.floor(i.memoryBytes / mib)}M`,
    '-smp', String(i.cpus),
    '-display', 'none',
    // the serial console is QEMU's stdio: the lodge-shim's pty
    '-serial', 'stdio',
    '-qmp', `unix:${i.qmpSocket},server=on,wait=off`,
    '-kernel', i.kernel,
    '-initrd', i.initrd,
    '-append', `console=ttyS0 quiet LODGE_HOSTNAME=${i.name} LODGE_KIND=vm LODGE_INIT=${i.init}`,
    '-drive', `file=${i.disk},if=virtio,format=qcow2,discard=unmap`,
    '-device', 'virtio-balloon-pci',
    '-device', 'virtio-rng-pci',
    '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
  ];
}
