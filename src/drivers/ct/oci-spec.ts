/**
 * @module The OCI runtime spec (config.json) of a system container, made from a
 * validated guest spec. Pure: no I/O, table-tested beside it.
 */
import type { ResolvedLimits } from '../driver.js';

/** One shared map for every unprivileged guest, so one shifted copy of an image serves all. */
export const defaultIdMap = { hostId: 1_000_000, size: 65_536 } as const;

export interface OciSpecInput {
  hostname: string;
  rootfs: string;
  init: string;
  privileged: boolean;
  limits: ResolvedLimits;
  cgroupsPath: string;
  capabilities: string[];
  /** Whether the host's memory cgroup can limit swap (memsw on v1). */
  swapAccounting: boolean;
  /** Volumes: a host directory (a volume's mounted filesystem) bound at a path in the guest. */
  binds?: Array<{ source: string; destination: string }>;
}

/** What a system container gives up: loading modules, changing the clock, MAC policy and raw I/O. */
const droppedCapabilities = new Set(['CAP_SYS_MODULE', 'CAP_SYS_TIME', 'CAP_MAC_ADMIN', 'CAP_MAC_OVERRIDE', 'CAP_SYS_RAWIO']);

/** The capabilities of a system container on a host whose bounding set is `host`. */
export function systemContainerCapabilities(host: Iterable<string>): string[] {
  return [...host].filter((c) => !droppedCapabilities.has(c));
}

/** Syscalls no guest may make: kernel modules, kexec, file handles that escape a mount, the kernel keyring. */
const deniedSyscalls = [
  'init_module', 'finit_module', 'delete_module', 'kexec_load', 'kexec_file_load', 'open_by_handle_at',
  'add_key', 'request_key', 'keyctl', 'iopl', 'ioperm', 'swapon', 'swapoff', 'acct', 'lookup_dcookie',
  'quotactl', 'nfsservctl', 'vm86', 'vm86old', 'create_module', 'get_kernel_syms', 'query_module', 'uselib',
];

const cpuPeriod = 100_000;

export function cgroupResources(limits: ResolvedLimits, swapAccounting: boolean): Record<string, unknown> {
  const resources: Record<string, unknown> = {};
  if (limits.cpu !== undefined) {
    resources.cpu = { shares: Math.max(2, Math.round(limits.cpu * 1024)), quota: Math.round(limits.cpu * cpuPeriod), period: cpuPeriod };
  }
  if (limits.memoryBytes !== undefined) {
    const memory: Record<string, number> = { limit: limits.memoryBytes };
    // OCI's swap is memory+swap; without swap given, a guest gets no swap at all
    if (swapAccounting) memory.swap = limits.memoryBytes + (limits.swapBytes ?? 0);
    resources.memory = memory;
  }
  if (limits.processes !== undefined) resources.pids = { limit: limits.processes };
  return resources;
}

export function ociSpec(input: OciSpecInput): Record<string, unknown> {
  const userns = !input.privileged;
  const mounts: Array<Record<string, unknown>> = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(userns ? [] : ['gid=5'])] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    // writable so that an init like systemd can make sub-cgroups in the hierarchies delegated to it
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime'] },
    { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'size=65536k'] },
    // after /run and the rest: a volume may be mounted below them
    ...(input.binds ?? []).map((b) => ({ destination: b.destination, type: 'bind', source: b.source, options: ['rbind', 'rw', 'nosuid', 'nodev'] })),
  ];
  // the cgroup namespace makes a guest see its own cgroup as the root, as its mounted hierarchy shows it
  const namespaces = [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }];
  if (userns) namespaces.push({ type: 'user' });
  const idMap = [{ containerID: 0, hostID: defaultIdMap.hostId, size: defaultIdMap.size }];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: [input.init],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=linux', 'container=lodge'],
      cwd: '/',
      capabilities: {
        bounding: input.capabilities,
        effective: input.capabilities,
        permitted: input.capabilities,
      },
      noNewPrivileges: false,
    },
    root: { path: input.rootfs, readonly: false },
    hostname: input.hostname,
    mounts,
    linux: {
      namespaces,
      ...(userns ? { uidMappings: idMap, gidMappings: idMap } : {}),
      cgroupsPath: input.cgroupsPath,
      resources: { devices: [{ allow: false, access: 'rwm' }], ...cgroupResources(input.limits, input.swapAccounting) },
      maskedPaths: [
        '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys/kernel/core_pattern', '/proc/sysrq-trigger'],
      seccomp: {
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
        syscalls: [{ names: deniedSyscalls, action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
      },
    },
  };
}
