/**
 * @module The qemu-system-x86_64 command line of a vm guest, made from its settings.
 * Pure: no I/O, table-tested beside it.
 */
import type { DeviceProfile } from '../../api/guests.js';
import { nicWords } from '../../network/nic.js';

export interface QemuArgvInput {
  binary: string;
  name: string;
  accel: { accel: 'tcg' | 'kvm'; cpu: string };
  memoryBytes: number;
  /** Its memory offered to KSM (QEMU's mem-merge): off where lodged --ksm off keeps guests' pages apart. */
  mergeable: boolean;
  cpus: number;
  /** How many vCPUs it may have plugged in while it runs. */
  maxCpus: number;
  profile: DeviceProfile;
  /** Direct kernel boot of Lodge's kernel and initramfs, or the firmware (SeaBIOS) from the disk, then the cdrom. */
  boot: { kind: 'kernel'; kernel: string; initrd: string; init: string } | { kind: 'firmware' };
  /** The guest's qcow2 root disk (an overlay on the image's shared base, or empty for an ISO). */
  disk: string;
  /** An ISO, read-only and shared. */
  cdrom?: string;
  /** cloud-init's NoCloud seed (cloud-seed.ts), read-only, on virtio-blk in either profile (Linux has the driver). */
  seed?: string;
  /** Volumes' raw disk files, by their slot (1..4). */
  disks?: Array<{ slot: number; file: string; serial: string }>;
  qmpSocket: string;
  /** The guest agent's virtio-serial port (QGA, for lodge exec), on a unix socket. */
  qgaSocket: string;
  /** lodge-execd's virtio-serial port (exec as streams), on a unix socket. */
  execSocket: string;
  vncSocket: string;
  /** One tap device each, eth0 first, with the address planned for it. */
  nics: Array<{ tap: string; mac: string; address: string; gateway: string }>;
  /** Start without running, waiting for the machine's saved state (a stateful snapshot's). */
  incoming?: boolean;
}

const mib = 1024 * 1024;

/**
 * TCG's cache of translated code: QEMU's default lets it grow to 1 GiB, which a busy guest
 * fills past the engine's memory overhead (a 512 MiB Debian guest running cloud-init was
 * OOM-killed in its cgroup at 784 MiB). 128 MiB holds a Linux system's hot code.
 */
export const tcgCacheMib = 128;

/** What the guest's kernel calls its root disk in each profile. */
export const rootDevice: Record<DeviceProfile, string> = { virtio: '/dev/vda', legacy: '/dev/sda' };

/** The NIC model of each profile: paravirtual, or the Intel e1000 every OS has a driver for. */
const nicModel: Record<DeviceProfile, string> = { virtio: 'virtio-net-pci', legacy: 'e1000' };

/** virtio: paravirtual disk, balloon and entropy; legacy: the disk on q35's built-in AHCI controller. */
const profileDevices: Record<DeviceProfile, string[]> = {
  virtio: ['-device', 'virtio-blk-pci,drive=root,bootindex=1', '-device', 'virtio-balloon-pci,id=balloon0', '-device', 'virtio-rng-pci'],
  legacy: ['-device', 'ide-hd,drive=root,bus=ide.0,bootindex=1'],
};

/**
 * A volume's disk: virtio-blk in a PCIe root port of its own (so that it can be plugged
 * and unplugged while the guest runs), or on the legacy profile a disk on the AHCI
 * controller's ports after the root's and the cdrom's.
 */
export function volumeDevice(profile: DeviceProfile, slot: number, serial: string): Record<string, string> {
  return profile === 'virtio'
    ? { driver: 'virtio-blk-pci', id: `dev-vol${slot}`, drive: `vol${slot}`, bus: `hp${slot}`, serial }
    : { driver: 'ide-hd', id: `dev-vol${slot}`, drive: `vol${slot}`, bus: `ide.${slot + 1}`, serial };
}

/** The block node of a volume's file (the same from the command line and from QMP). */
export function volumeBlockdev(slot: number, file: string): Record<string, unknown> {
  return { driver: 'raw', 'node-name': `vol${slot}`, discard: 'unmap', file: { driver: 'file', filename: file } };
}

/** Root ports that hot-plugged disks go into (q35's root bus takes none). */
export const hotplugPorts = 4;

/** A -device option: the driver, then its properties. */
function deviceOption({ driver, ...properties }: Record<string, string>): string {
  return [driver, ...Object.entries(properties).map(([k, v]) => `${k}=${v}`)].join(',');
}

export function qemuArgv(i: QemuArgvInput): string[] {
  const boot =
    i.boot.kind === 'kernel'
      ? [
          '-kernel', i.boot.kernel,
          '-initrd', i.boot.initrd,
          '-append', [`console=ttyS0 quiet LODGE_HOSTNAME=${i.name} systemd.hostname=${i.name} LODGE_KIND=vm LODGE_INIT=${i.boot.init} LODGE_ROOT=${rootDevice[i.profile]}`, ...nicWords(i.nics)].join(' '),
        ]
      : [];
  const cdrom = i.cdrom
    ? ['-drive', `file=${i.cdrom},if=none,id=cdrom,media=cdrom,readonly=on,format=raw`, '-device', 'ide-cd,drive=cdrom,bus=ide.1,bootindex=2']
    : [];
  return [
    i.binary,
    '-name', `guest=${i.name}`,
    '-nodefaults', '-no-user-config',
    // q35, not microvm: under TCG microvm hangs in early boot about one time in five (no HPET or PM timer)
    '-machine', `q35,mem-merge=${i.mergeable ? 'on' : 'off'}`,
    '-accel', i.accel.accel === 'tcg' ? `tcg,tb-size=${tcgCacheMib}` : 'kvm',
    '-cpu', i.accel.cpu,
    '-m', `${Math.floor(i.memoryBytes / mib)}M`,
    '-smp', `${i.cpus},maxcpus=${Math.max(i.cpus, i.maxCpus)}`,
    // the serial console (a 16550) is QEMU's stdio: the lodge-shim's pty
    '-serial', 'stdio',
    // the VGA screen is seen only through VNC, on a unix socket
    '-device', 'VGA',
    '-display', 'none',
    '-vnc', `unix:${i.vncSocket}`,
    '-qmp', `unix:${i.qmpSocket},server=on,wait=off`,
    // the guest agent's port, in every profile: a user's own image with qemu-guest-agent finds it by this name,
    // and an OS without virtio drivers ignores the device
    '-chardev', `socket,id=qga,path=${i.qgaSocket},server=on,wait=off`,
    '-device', 'virtio-serial-pci,id=qga-serial',
    '-device', 'virtserialport,bus=qga-serial.0,chardev=qga,name=org.qemu.guest_agent.0',
    // and lodge-execd's, beside it: an image without it leaves the port closed, and exec runs through the agent's
    '-chardev', `socket,id=lodge-exec,path=${i.execSocket},server=on,wait=off`,
    '-device', 'virtserialport,bus=qga-serial.0,chardev=lodge-exec,name=org.lodge.exec.0',
    ...boot,
    '-drive', `file=${i.disk},if=none,id=root,format=qcow2,discard=unmap`,
    ...profileDevices[i.profile],
    ...cdrom,
    ...(i.seed ? ['-drive', `file=${i.seed},if=none,id=seed,format=raw,readonly=on`, '-device', 'virtio-blk-pci,drive=seed,serial=cidata'] : []),
    ...(i.profile === 'virtio' ? Array.from({ length: hotplugPorts }, (_, k) => ['-device', `pcie-root-port,id=hp${k + 1},chassis=${k + 1}`]).flat() : []),
    ...(i.disks ?? []).flatMap((d) => [
      '-blockdev', `driver=raw,node-name=vol${d.slot},discard=unmap,file.driver=file,file.filename=${d.file}`,
      '-device', deviceOption(volumeDevice(i.profile, d.slot, d.serial)),
    ]),
    ...i.nics.flatMap((n, k) => ['-netdev', `tap,id=nic${k},ifname=${n.tap},script=no,downscript=no`, '-device', `${nicModel[i.profile]},netdev=nic${k},mac=${n.mac}`]),
    // a machine brought back from a stateful snapshot waits for its state on QMP's migrate-incoming
    ...(i.incoming ? ['-incoming', 'defer'] : []),
    '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
  ];
}
