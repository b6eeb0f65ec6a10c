/**
 * @module The debian/12 image: a minimal Debian bookworm with systemd as init, made by
 * debootstrap from the mirror the host's apt already uses. It carries Lodge's lodge-execd
 * (exec as streams in vm and pv guests), lodge-agent (pv guests' files, and their exec until
 * lodge-execd runs) and Debian's qemu-guest-agent (the same in vm guests).
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LodgeError } from '../api/errors.js';
import { run } from '../lib/exec.js';
import { agentScript } from './agent.js';
import { staticAgents } from './busybox.js';

export const debianImage = { init: '/sbin/init', stopSignal: 'SIGRTMIN+4' } as const;

/** The host's own Debian mirror, so the build reaches nothing apt does not already reach. */
async function hostMirror(): Promise<string> {
  for (const file of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    const m = /^URIs:\s*(\S+\/debian)\s*$/m.exec(text) ?? /^deb\s+(\S+\/debian)\s+bookworm\s/m.exec(text);
    if (m) return m[1]!;
  }
  return 'http://deb.debian.org/debian';
}

const agentUnit = `[Unit]
Description=Lodge agent (lodge exec in pv guests)
ConditionKernelCommandLine=LODGE_KIND=pv

[Service]
# bash, not dash: it waits between looks without starting a process (images/agent.ts)
ExecStart=/bin/bash /usr/local/sbin/lodge-agent
Restart=always

[Install]
WantedBy=multi-user.target
`;

/**
 * vm guests: Debian's qemu-ga on the guest agent's port. Debian starts it from a udev rule, and the image has no udev
 * (it would rename the NICs Lodge names eth0...): this unit takes the place of Debian's, and finds the port by its name.
 */
const guestAgentUnit = `[Unit]
Description=QEMU guest agent (lodge exec in vm guests)
ConditionKernelCommandLine=LODGE_KIND=vm

[Service]
ExecStart=/usr/local/sbin/lodge-qemu-ga
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
`;

/** vm and pv guests: lodge-execd, which finds its port (or line) itself. */
const execAgentUnit = `[Unit]
Description=Lodge exec agent (lodge exec as streams in vm and pv guests)
ConditionKernelCommandLine=|LODGE_KIND=vm
ConditionKernelCommandLine=|LODGE_KIND=pv

[Service]
ExecStart=/usr/local/sbin/lodge-execd
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
`;

const guestAgentScript = `#!/bin/sh
# qemu-ga on the virtio-serial port named org.qemu.guest_agent.0 (without udev, no /dev/virtio-ports/ name is made)
for i in $(seq 300); do
  for port in /sys/class/virtio-ports/*; do
    [ "$(cat "$port/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] && exec /usr/sbin/qemu-ga --method=virtio-serial --path="/dev/\${port##*/}"
  done
  sleep 0.1
done
echo "lodge-qemu-ga: no virtio-serial port named org.qemu.guest_agent.0" >&2
exit 1
`;

/** vm and pv guests: the addresses Lodge planned come on the kernel command line; a container's are set from the host. */
const netScript = `#!/bin/sh
# LODGE_NICn=ADDRESS/PREFIX,GATEWAY for each NIC; the gateway is also the network's name server (domain lodge)
for word in $(cat /proc/cmdline); do
  case "$word" in
    LODGE_NIC[0-9]*=*)
      n=\${word%%=*}; n=\${n#LODGE_NIC}; value=\${word#*=}
      ip link set "eth$n" up
      ip addr replace "\${value%,*}" dev "eth$n"
      if [ "$n" = 0 ]; then
        ip route replace default via "\${value#*,}"
        printf 'nameserver %s\\nsearch lodge\\n' "\${value#*,}" > /etc/resolv.conf
      fi ;;
  esac
done
`;

const netUnit = `[Unit]
Description=Lodge: the guest's NICs as planned (vm and pv guests)
ConditionKernelCommandLine=LODGE_NIC0
Before=network.target
Wants=network.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lodge-net

[Install]
WantedBy=multi-user.target
`;

/**
 * Beyond minbase: what boots it (systemd, kmod, acpid, the guest agent) and what a Debian user
 * expects to find in a minimal system: ip, ping, ps and top, less, an editor, a DHCP client.
 */
const packages = ['systemd-sysv', 'kmod', 'iproute2', 'ifupdown', 'acpid', 'qemu-guest-agent', 'iputils-ping', 'procps', 'less', 'nano', 'isc-dhcp-client'];

/** cloud-init, and what debootstrap cannot find itself: it takes no virtual package (python3-cryptography's python3-cffi-backend-api-*). */
const cloudPackages = ['cloud-init', 'python3-cffi-backend'];

/** Each guest's own name is added by the guest (ct: from the host; vm, pv: systemd's hostname). */
const hostsFile = '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n';

/**
 * root logs in on the console without a password, and nowhere else: its password is locked.
 * The console is reached only through lodged, by an admin.
 */
const consoleAutologin = `[Service]
ExecStart=
ExecStart=-/sbin/agetty -o '-p -f -- \\\\u' --noclear --autologin root --keep-baud - 115200,38400,9600 $TERM
`;

/** Downloaded packages stay here, so a rebuild (or a second test run) fetches nothing new. */
const packageCache = '/var/cache/lodge/debootstrap';

/**
 * cloud-init in debian/12-cloud: only the NoCloud seed Lodge gives (no metadata service is
 * looked for on the network), the NICs left to lodge-net (which sets the planned addresses),
 * and nothing asked of what the image leaves out.
 */
const cloudConfig = `datasource_list: [ NoCloud, None ]
network:
  config: disabled
# no locales package: C.UTF-8 is glibc's own
locale: C.UTF-8
# no SSH server in the image
ssh_genkeytypes: []
`;

export async function buildDebian(rootfs: string, progress: (step: string) => void, variant: { cloudInit?: boolean } = {}): Promise<void> {
  if (!existsSync('/usr/sbin/debootstrap')) throw new LodgeError('UNAVAILABLE', 'debootstrap is missing: install the Debian package debootstrap');
  const mirror = await hostMirror();
  progress(`debootstrap bookworm from ${mirror}`);
  await mkdir(packageCache, { recursive: true });
  await run(['debootstrap', '--variant=minbase', `--cache-dir=${packageCache}`, `--include=${[...packages, ...(variant.cloudInit ? cloudPackages : [])].join(',')}`, 'bookworm', rootfs, mirror], {
    timeoutMs: 1_800_000,
  });
  progress('configuring');
  await writeFile(path.join(rootfs, 'etc/hostname'), 'debian\n');
  // no virtual terminals (a pv guest's tty1-6 lead nowhere) and no serial getty (a vm's ttyS0 is its console, and
  // without udev its device unit never appears): the one login is on the console
  for (const unit of ['getty@.service', 'getty-static.service', 'serial-getty@.service']) {
    await run(['ln', '-sf', '/dev/null', path.join(rootfs, 'etc/systemd/system', unit)]);
  }
  await mkdir(path.join(rootfs, 'etc/systemd/system/getty.target.wants'), { recursive: true });
  await run(['ln', '-sf', '/lib/systemd/system/console-getty.service', path.join(rootfs, 'etc/systemd/system/getty.target.wants/console-getty.service')]);
  await mkdir(path.join(rootfs, 'etc/systemd/system/console-getty.service.d'), { recursive: true });
  await writeFile(path.join(rootfs, 'etc/systemd/system/console-getty.service.d/autologin.conf'), consoleAutologin);
  await run(['chroot', rootfs, 'passwd', '-l', 'root']);
  await writeFile(path.join(rootfs, 'etc/hosts'), hostsFile);
  // as a vm: the ACPI power button is Lodge's request to shut down (acpid skips itself in a container)
  await writeFile(path.join(rootfs, 'etc/acpi/events/lodge-power-button'), 'event=button/power\naction=/bin/systemctl poweroff\n');
  // as a pv guest: Ctrl-Alt-Del is Lodge's request to shut down, and lodge exec needs the agent
  await run(['ln', '-sf', '/lib/systemd/system/poweroff.target', path.join(rootfs, 'etc/systemd/system/ctrl-alt-del.target')]);
  await writeFile(path.join(rootfs, 'usr/local/sbin/lodge-agent'), agentScript, { mode: 0o755 });
  await writeFile(path.join(rootfs, 'etc/systemd/system/lodge-agent.service'), agentUnit);
  await run(['ln', '-sf', '/etc/systemd/system/lodge-agent.service', path.join(rootfs, 'etc/systemd/system/multi-user.target.wants/lodge-agent.service')]);
  // as a vm: lodge exec goes through the guest agent
  await writeFile(path.join(rootfs, 'usr/local/sbin/lodge-qemu-ga'), guestAgentScript, { mode: 0o755 });
  await writeFile(path.join(rootfs, 'etc/systemd/system/qemu-guest-agent.service'), guestAgentUnit);
  await run(['ln', '-sf', '/etc/systemd/system/qemu-guest-agent.service', path.join(rootfs, 'etc/systemd/system/multi-user.target.wants/qemu-guest-agent.service')]);
  const execd = staticAgents.find((a) => a.name === 'lodge-execd')!;
  if (!existsSync(execd.file)) throw new LodgeError('UNAVAILABLE', `lodge-execd is missing at ${execd.file} (run npm run build)`);
  await copyFile(execd.file, path.join(rootfs, 'usr/local/sbin/lodge-execd'));
  await chmod(path.join(rootfs, 'usr/local/sbin/lodge-execd'), 0o755);
  await writeFile(path.join(rootfs, 'etc/systemd/system/lodge-execd.service'), execAgentUnit);
  await run(['ln', '-sf', '/etc/systemd/system/lodge-execd.service', path.join(rootfs, 'etc/systemd/system/multi-user.target.wants/lodge-execd.service')]);
  await writeFile(path.join(rootfs, 'usr/local/sbin/lodge-net'), netScript, { mode: 0o755 });
  await writeFile(path.join(rootfs, 'etc/systemd/system/lodge-net.service'), netUnit);
  await run(['ln', '-sf', '/etc/systemd/system/lodge-net.service', path.join(rootfs, 'etc/systemd/system/multi-user.target.wants/lodge-net.service')]);
  if (variant.cloudInit) await writeFile(path.join(rootfs, 'etc/cloud/cloud.cfg.d/90-lodge.cfg'), cloudConfig);
  // empty: each guest's systemd makes its own machine id at first boot
  await writeFile(path.join(rootfs, 'etc/machine-id'), '');
  await rm(path.join(rootfs, 'var/lib/dbus/machine-id'), { force: true });
  await run(['rm', '-rf', path.join(rootfs, 'var/cache/apt/archives'), path.join(rootfs, 'var/lib/apt/lists')]);
}
