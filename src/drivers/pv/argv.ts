/**
 * @module The linux.uml command line of a paravirtual guest, made from its settings.
 * Pure: no I/O, table-tested beside it.
 */
import { nicWords } from '../../network/nic.js';

export interface UmlArgvInput {
  kernel: string;
  /** UML keeps its pidfile and mconsole socket in umlDir/umid. */
  umlDir: string;
  umid: string;
  memoryBytes: number;
  /** The guest's copy-on-write file over the shared, read-only base image. */
  cow: string;
  base: string;
  /** Volumes' disk files, as ubd1.. by their slot. */
  disks?: Array<{ slot: number; file: string }>;
  init: string;
  hostname: string;
  /** The only host directory the guest may mount with hostfs (the exec agent's exchange). */
  hostfsRoot: string;
  /** One tap device each, eth0 first, with the address planned for it. */
  nics: Array<{ tap: string; mac: string; address: string; gateway: string }>;
}

const mib = 1024 * 1024;

export function umlArgv(i: UmlArgvInput): string[] {
  return [
    i.kernel,
    `umid=${i.umid}`,
    `uml_dir=${i.umlDir}`,
    `mem=${Math.floor(i.memoryBytes / mib)}M`,
    `ubd0=${i.cow},${i.base}`,
    'root=/dev/ubda',
    // d: a volume is data, never a COW file: UML does not look for a header (naming a file to open) in it
    ...(i.disks ?? []).map((d) => `ubd${d.slot}d=${d.file}`),
    'rw',
    // the console is the shim's pty; the second serial line (ttyS1) the shim's channel, lodge-execd's; every other line goes nowhere
    'con0=fd:0,fd:1',
    'con=null',
    'ssl=null',
    'ssl1=fd:4,fd:5',
    `hostfs=${i.hostfsRoot}`,
    `init=${i.init}`,
    // words the kernel does not know reach init as environment variables
    `LODGE_HOSTNAME=${i.hostname}`,
    `systemd.hostname=${i.hostname}`,
    'LODGE_KIND=pv',
    ...i.nics.map((n, k) => `eth${k}=tuntap,${n.tap},${n.mac}`),
    ...nicWords(i.nics),
  ];
}
