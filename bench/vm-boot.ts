/**
 * bench/vm-boot: `lodge launch --kind vm` to the shell prompt on the serial console
 * against the same qemu-system-x86_64 command line by hand (its own overlay, QMP and
 * VNC sockets), alternated. Usage: npm run bench:vm-boot [-- --runs N]
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { benchBoot, rmForce } from './guest-boot.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' } } });

await benchBoot({
  kind: 'vm',
  runs: Number(values.runs),
  rawArgv: (argv, i, dir) => {
    const overlay = path.join(dir, `raw${i}.qcow2`);
    // the same base Lodge's overlays stand on (the harness keeps its state in DIR/state)
    const backing = path.join(dir, 'state/images/busybox/rootfs.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', backing, overlay]);
    // its own disk, QMP and VNC sockets; everything else as Lodge ran it
    const own: Record<string, (a: string) => string> = {
      '-drive': (a) => (a.includes('id=root') ? a.replace(/^file=[^,]+/, `file=${overlay}`) : a),
      '-qmp': () => `unix:${path.join(dir, `raw${i}.qmp`)},server=on,wait=off`,
      '-vnc': () => `unix:${path.join(dir, `raw${i}.vnc`)}`,
    };
    return argv.map((a, j) => own[argv[j - 1]!]?.(a) ?? a);
  },
  rawCleanup: (i, dir) => {
    rmForce(path.join(dir, `raw${i}.qcow2`));
    rmForce(path.join(dir, `raw${i}.qmp`));
    rmForce(path.join(dir, `raw${i}.vnc`));
  },
});
