/**
 * @module The busybox image: a system container root made in a second from Debian's
 * busybox-static, with busybox init as PID 1 and a shell on the console. It carries
 * lodge-execd (exec as streams in vm and pv guests), lodge-agent (pv guests' files, and
 * their exec until lodge-execd runs) and lodge-ga (a guest agent speaking QGA: vm guests'
 * files, and their exec until lodge-execd runs), the two static ones built with lodge-shim.
 */
import { existsSync } from 'node:fs';
import { mkdir, symlink, writeFile, copyFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LodgeError } from '../api/errors.js';
import { run } from '../lib/exec.js';
import { agentScript } from './agent.js';

const busybox = '/bin/busybox';
/** The agents Lodge builds static beside lodge-shim (dist/shim): lodge-ga (vm guests' QGA) and lodge-execd (vm and pv guests' exec as streams). */
export const staticAgents = ['lodge-ga', 'lodge-execd'].map((name) => ({ name, file: fileURLToPath(new URL(`../../shim/${name}`, import.meta.url)) }));

const files: Record<string, string> = {
  'etc/inittab': [
    '::sysinit:/etc/init.d/rcS',
    // the console shell has no job control: init holds the console as its controlling terminal
    '::respawn:-/bin/sh',
    // Ctrl-Alt-Del is how Lodge asks a paravirtual guest to shut down
    '::ctrlaltdel:/sbin/poweroff',
    '::shutdown:/bin/umount -a -r',
    '',
  ].join('\n'),
  // a container gets /proc, /sys and /dev from its runtime; a paravirtual guest mounts its own
  'etc/init.d/rcS': [
    '#!/bin/sh',
    '[ -e /proc/self ] || mount -t proc proc /proc',
    '[ -d /sys/kernel ] || mount -t sysfs sysfs /sys',
    'mkdir -p /dev/pts && { [ -e /dev/pts/ptmx ] || mount -t devpts devpts /dev/pts; }',
    '# pv: the name comes on the kernel command line; lodge exec goes through the agent',
    '[ -n "$LODGE_HOSTNAME" ] && hostname "$LODGE_HOSTNAME"',
    '[ "$LODGE_KIND" = pv ] && /sbin/lodge-agent </dev/null >/dev/null 2>&1 &',
    '# vm: lodge exec and file copies go through the agents, on their virtio-serial ports; pv: exec as streams on ttyS1',
    '[ "$LODGE_KIND" = vm ] && /sbin/lodge-ga </dev/null >/dev/null 2>&1 &',
    '[ "$LODGE_KIND" = vm -o "$LODGE_KIND" = pv ] && /sbin/lodge-execd </dev/null >/dev/null 2>&1 &',
    '# vm and pv: a NIC asks its network\'s dnsmasq for the address Lodge planned (a ct\'s is set from the host)',
    '[ "$LODGE_KIND" = vm -o "$LODGE_KIND" = pv ] && for nic in /sys/class/net/eth*; do [ -e "$nic" ] && udhcpc -b -i "${nic##*/}" -s /etc/udhcpc.script >/dev/null 2>&1; done',
    '# vm: the ACPI power button (Lodge\'s graceful stop) powers off',
    '[ "$LODGE_KIND" = vm ] && acpid',
    'mount -a 2>/dev/null',
    '[ -x /etc/rc.local ] && /etc/rc.local',
    'exit 0',
    '',
  ].join('\n'),
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  'etc/group': 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n',
  'etc/profile': 'export PS1="\\h:\\w\\$ "\nexport PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n',
  'etc/fstab': '',
  // busybox acpid runs /etc/acpi/<event> for the power button's event
  'etc/acpi/PWRF/00000080': '#!/bin/sh\npoweroff\n',
  'etc/hosts': '127.0.0.1 localhost\n::1 localhost\n',
  // udhcpc hands its lease to a script: the address, the default route, the name server
  'etc/udhcpc.script': [
    '#!/bin/sh',
    'case "$1" in',
    '  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;',
    '  bound|renew)',
    '    ip addr flush dev "$interface"',
    '    ip addr add "$ip/${mask:-24}" dev "$interface"',
    '    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"',
    '    [ -n "$dns" ] && { for s in $dns; do echo "nameserver $s"; done; [ -n "$domain" ] && echo "search $domain"; } > /etc/resolv.conf',
    '    ;;',
    'esac',
    '',
  ].join('\n'),
};

export const busyboxImage = { init: '/sbin/init', stopSignal: 'SIGUSR2' } as const;

export async function buildBusybox(rootfs: string): Promise<void> {
  if (!existsSync(busybox)) throw new LodgeError('UNAVAILABLE', `${busybox} is missing: install the Debian package busybox-static`);
  for (const agent of staticAgents) if (!existsSync(agent.file)) throw new LodgeError('UNAVAILABLE', `${agent.name} is missing at ${agent.file} (run npm run build)`);
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc/init.d', 'etc/acpi/PWRF', 'proc', 'sys', 'dev', 'run', 'tmp', 'root', 'var/log', 'mnt']) {
    await mkdir(path.join(rootfs, d), { recursive: true });
  }
  await chmod(path.join(rootfs, 'tmp'), 0o1777);
  await chmod(path.join(rootfs, 'root'), 0o700);
  await copyFile(busybox, path.join(rootfs, 'bin/busybox'));
  await chmod(path.join(rootfs, 'bin/busybox'), 0o755);
  const applets = (await run([busybox, '--list-full'])).stdout.split('\n').filter(Boolean);
  for (const applet of applets) {
    if (applet === 'bin/busybox') continue;
    const depth = applet.split('/').length - 1;
    await symlink(`${'../'.repeat(depth)}bin/busybox`, path.join(rootfs, applet));
  }
  for (const [file, text] of Object.entries(files)) await writeFile(path.join(rootfs, file), text);
  await writeFile(path.join(rootfs, 'sbin/lodge-agent'), agentScript, { mode: 0o755 });
  for (const agent of staticAgents) {
    await copyFile(agent.file, path.join(rootfs, 'sbin', agent.name));
    await chmod(path.join(rootfs, 'sbin', agent.name), 0o755);
  }
  await chmod(path.join(rootfs, 'etc/init.d/rcS'), 0o755);
  await chmod(path.join(rootfs, 'etc/acpi/PWRF/00000080'), 0o755);
  await chmod(path.join(rootfs, 'etc/udhcpc.script'), 0o755);
}
