/**
 * @module lodge launch IMAGE NAME
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { guestKinds, type GuestKind } from '../../api/common.js';
import { LodgeError } from '../../api/errors.js';
import { restartPolicies, type AccelMode, type DeviceProfile, type RestartPolicy } from '../../api/guests.js';
import type { NicRequest } from '../../api/networks.js';
import type { LodgeClient } from '../../client/index.js';
import { autonomicFromFlag, autostartOrderFromFlag, limitsFromFlags, priorityFromFlag, type LimitFlags } from '../flags.js';
import { buildIfMissing } from '../image-on-demand.js';
import { waitFor } from '../progress.js';
import { waitTimeout, waitUntilReady } from '../wait-ready.js';

interface Flags extends LimitFlags {
  kind: string;
  accel?: string;
  profile?: string;
  network: string[];
  privileged?: boolean;
  pool?: string;
  start: boolean;
  restart?: string;
  autonomic?: string;
  priority?: string;
  userData?: string;
  autostart?: boolean;
  autostartOrder?: string;
  wait?: boolean;
  waitTimeout: string;
}

/** The most user data lodged takes (the API's own bound). */
const maxUserDataBytes = 64 * 1024;

/** --user-data FILE: its text, or an error that names the flag and the file. */
async function userDataFrom(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new LodgeError('BAD_REQUEST', `--user-data: cannot read ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  });
  if (Buffer.byteLength(text) > maxUserDataBytes) throw new LodgeError('BAD_REQUEST', `--user-data: ${file} is larger than ${maxUserDataBytes / 1024} KiB`);
  return text;
}

/** "backend" or "backend=10.20.0.9". */
function nicFromFlag(flag: string): NicRequest {
  const [network, address] = flag.split('=');
  return { network: network!, ...(address ? { address } : {}) };
}

export function register(program: Command, client: () => LodgeClient): void {
  program
    .command('launch')
    .description('create a guest from an image and start it')
    .argument('<image>', "image to start from (lodge image list); one of Lodge's own (lodge image list --available) is built first if it is not yet")
    .argument('<name>', 'guest name: lowercase letters, digits and -, starting with a letter')
    .option('--kind <kind>', 'ct (system container), vm (virtual machine) or pv (paravirtual)', 'ct')
    .option('--cpu <n>', 'CPUs the guest may use, e.g. 1 or 0.5')
    .option('--memory <size>', 'memory limit, e.g. 256M or 1G: the most the guest holds (its ceiling)')
    .option('--memory-floor <size>', 'the least memory the autonomic loop leaves it when it gives memory to others (default: a quarter of --memory)')
    .option('--swap <size>', 'swap the guest may use beyond --memory (default none)')
    .option('--processes <n>', 'most processes the guest may run at once')
    .option('--disk <size>', 'size of the guest\'s own writable storage, e.g. 1G (default: a container gets its pool\'s volume size, a vm guest the size of its image\'s disk; a pv guest\'s is always its image\'s base)')
    .option('--pool <pool>', 'the storage pool of its root volume (default: the default pool; lodge storage list)')
    .option('--network <name[=address]>', 'a NIC on this network (repeat for more; eth0 first), optionally with a fixed address; none: loopback only (default: the network "default")', (v: string, all: string[]) => [...all, v], [])
    .option('--accel <accel>', 'vm: auto (KVM where a probe shows it fast, else TCG), kvm or tcg')
    .option('--profile <profile>', 'vm: virtio (paravirtual devices; default for Linux images) or legacy (AHCI disk, standard devices; default for imported disks and ISOs)')
    .option('--user-data <file>', "vm: cloud-init's user data (#cloud-config or a script) for an image with cloud-init, such as debian/12-cloud")
    .option('--privileged', 'ct: no user namespace, so root in the guest is root on the host (gives up the main isolation layer)')
    .option('--no-start', 'create the guest but leave it stopped')
    .option('--wait', 'return once the guest answers exec (has booted), not when its engine runs')
    .option('--wait-timeout <seconds>', 'how long --wait waits', '300')
    .option('--restart <policy>', 'when lodged starts it again after it ended on its own: no (default), on-failure or always')
    .option('--autonomic <policy>', 'on (default): the autonomic loop moves memory to and from it between its floor and ceiling, and lowers its CPU weight while it spins for long; off: it keeps its --memory and its weight')
    .option('--autostart', 'lodged starts it at its own start if it was running and had ended without being stopped (the host rebooted): after a reboot it comes back; a guest you stopped stays stopped')
    .option('--autostart-order <n>', 'its place among the guests lodged starts so, lower first (default 0), lodged --autostart-delay apart')
    .option('--priority <priority>', 'its CPU weight against the other guests when the CPUs are contended: low (half), normal (default) or high (twice)')
    .addHelpText(
      'after',
      '\nExamples:\n  lodge launch busybox web1\n  lodge launch busybox web3 --network backend --network lab=10.77.0.10\n  lodge launch busybox web2 --memory 256M --cpu 1 --processes 200 --disk 1G\n  lodge launch busybox web4 --pool fast\n  lodge launch busybox web5 --restart on-failure\n  lodge launch busybox web6 --memory 512M --memory-floor 128M\n  lodge launch busybox db2 --memory 1G --autonomic off\n  lodge launch busybox batch1 --priority low\n  lodge launch debian/12 db1 --autostart --autostart-order 1\n  lodge launch debian/12 db1 --memory 1G\n  lodge launch busybox vm1 --kind vm --cpu 2 --memory 512M\n  lodge launch busybox-iso live1 --kind vm --profile legacy --accel tcg\n  lodge launch debian/12-cloud app1 --kind vm --user-data cloud.yaml',
    )
    .action(async (image: string, name: string, flags: Flags) => {
      if (!(guestKinds as readonly string[]).includes(flags.kind)) throw new LodgeError('BAD_REQUEST', `--kind: "${flags.kind}" is not ${guestKinds.join(', ')}`);
      if (flags.accel !== undefined && !['auto', 'kvm', 'tcg'].includes(flags.accel)) throw new LodgeError('BAD_REQUEST', `--accel: "${flags.accel}" is not auto, kvm or tcg`);
      if (flags.profile !== undefined && !['virtio', 'legacy'].includes(flags.profile)) throw new LodgeError('BAD_REQUEST', `--profile: "${flags.profile}" is not virtio or legacy`);
      if (flags.restart !== undefined && !(restartPolicies as readonly string[]).includes(flags.restart)) throw new LodgeError('BAD_REQUEST', `--restart: "${flags.restart}" is not ${restartPolicies.join(', ')}`);
      const autonomic = autonomicFromFlag(flags.autonomic);
      const priority = priorityFromFlag(flags.priority);
      const autostartOrder = autostartOrderFromFlag(flags.autostartOrder);
      const waitSeconds = flags.wait ? waitTimeout(flags.waitTimeout) : undefined;
      const options = {
        ...(flags.privileged ? { privileged: true } : {}),
        ...(flags.accel ? { accel: flags.accel as AccelMode } : {}),
        ...(flags.profile ? { profile: flags.profile as DeviceProfile } : {}),
        ...(flags.userData !== undefined ? { userData: await userDataFrom(flags.userData) } : {}),
      };
      const c = client();
      await buildIfMissing(c, image);
      const launching = c.guests.launch({
        name,
        image,
        kind: flags.kind as GuestKind,
        limits: limitsFromFlags(flags),
        ...(flags.pool ? { pool: flags.pool } : {}),
        ...(Object.keys(options).length > 0 ? { options } : {}),
        ...(flags.network.length > 0 ? { networks: flags.network.includes('none') ? [] : flags.network.map(nicFromFlag) } : {}),
        ...(flags.start ? {} : { start: false }),
        ...(flags.restart ? { restart: flags.restart as RestartPolicy } : {}),
        ...(autonomic ? { autonomic } : {}),
        ...(priority ? { priority } : {}),
        ...(flags.autostart ? { autostart: true } : {}),
        ...(autostartOrder !== undefined ? { autostartOrder } : {}),
      });
      await waitFor(c, launching, `Launching ${name}`);
      if (waitSeconds !== undefined && flags.start) await waitUntilReady(c, name, waitSeconds);
      process.stderr.write(`${name} ${flags.start ? (flags.wait ? 'is running and answers exec' : 'is running') : 'is created (stopped)'}\n`);
    });
}
