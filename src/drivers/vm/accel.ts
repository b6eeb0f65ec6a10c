/**
 * @module Which accelerator a vm runs on. /dev/kvm existing says little: under nested or
 * emulated virtualization KVM can be thousands of times slower than native, slower even
 * than TCG's software emulation. So `auto` boots a tiny guest (one boot sector: a busy
 * loop with a port write per round, then isa-debug-exit) under both and takes KVM only
 * where it runs that guest at least twice as fast as TCG.
 */
import { constants, existsSync } from 'node:fs';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AccelMode } from '../../api/guests.js';
import { run } from '../../lib/exec.js';

export interface AccelChoice {
  accel: 'kvm' | 'tcg';
  /** The -cpu model: what the accelerator offers and this host accepts. */
  cpu: string;
  reason: string;
}

/** What the probe saw of KVM. */
export type KvmProbe =
  | { kind: 'missing'; why: string }
  | { kind: 'failed'; why: string }
  | { kind: 'ran'; seconds: number; cpu: string }
  | { kind: 'slow'; moreThanSeconds: number; cpu: string };

export interface ProbeResult {
  tcgSeconds: number;
  kvm: KvmProbe;
}

const tcgCpu = 'max';
/** `host` first; on hosts whose KVM refuses to set IA32_ARCH_CAPABILITIES (MSR 0x10a), the same model without it. */
const kvmCpus = ['host', 'host,-arch-capabilities'];

const s = (x: number) => `${x.toFixed(2)} s`;

/** Pure: what a guest runs on, given what was asked and what the probe saw (needless for tcg). */
export function chooseAccel(mode: AccelMode, probe?: ProbeResult): AccelChoice {
  if (mode === 'tcg') return { accel: 'tcg', cpu: tcgCpu, reason: 'asked for (--accel tcg)' };
  if (!probe) throw new Error(`--accel ${mode} needs the accelerator probe`);
  const { kvm, tcgSeconds } = probe;
  const kvmCpu = kvm.kind === 'ran' || kvm.kind === 'slow' ? kvm.cpu : 'host';
  if (mode === 'kvm') return { accel: 'kvm', cpu: kvmCpu, reason: 'asked for (--accel kvm)' };
  switch (kvm.kind) {
    case 'missing':
      return { accel: 'tcg', cpu: tcgCpu, reason: `auto: ${kvm.why}` };
    case 'failed':
      return { accel: 'tcg', cpu: tcgCpu, reason: `auto: KVM failed the probe (${kvm.why})` };
    case 'slow':
      return { accel: 'tcg', cpu: tcgCpu, reason: `auto: KVM ran the probe guest in more than ${s(kvm.moreThanSeconds)}, TCG in ${s(tcgSeconds)}: this host's KVM is nested or emulated` };
    case 'ran':
      return kvm.seconds * 2 <= tcgSeconds
        ? { accel: 'kvm', cpu: kvm.cpu, reason: `auto: KVM ran the probe guest in ${s(kvm.seconds)}, TCG in ${s(tcgSeconds)}` }
        : { accel: 'tcg', cpu: tcgCpu, reason: `auto: KVM ran the probe guest in ${s(kvm.seconds)}, not clearly faster than TCG's ${s(tcgSeconds)}` };
  }
}

/** Pure: the probe's boot sector. `rounds` times 65535 turns of `loop`, each round writing port 0x80 (a VM exit under KVM). */
export function probeBootSector(rounds: number): Buffer {
  const code = [
    0xfa, //                          cli
    0xbb, rounds & 0xff, rounds >> 8, // mov bx, rounds
    0xb9, 0xff, 0xff, //              round: mov cx, 0xffff
    0xe2, 0xfe, //                    spin: loop spin
    0xe6, 0x80, //                    out 0x80, al
    0x4b, //                          dec bx
    0x75, 0xf6, //                    jnz round
    0xb0, 0x00, //                    mov al, 0
    0xe6, 0xf4, //                    out 0xf4, al: isa-debug-exit ends QEMU with status 1
    0xf4, //                          hlt
    0xeb, 0xfd, //                    jmp hlt
  ];
  const sector = Buffer.alloc(512);
  Buffer.from(code).copy(sector);
  sector.writeUInt16LE(0xaa55, 510);
  return sector;
}

/** One run of the probe guest: its wall time, or QEMU's complaint, or 'timeout'. */
async function runProbe(qemu: string, image: string, accel: 'kvm' | 'tcg', cpu: string, timeoutMs: number): Promise<number | 'timeout' | { error: string }> {
  const t0 = performance.now();
  const argv = [
    qemu, '-nodefaults', '-no-user-config', '-machine', 'pc', '-accel', accel, '-cpu', cpu, '-m', '16', '-display', 'none',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=4', '-drive', `file=${image},format=raw,if=floppy,readonly=on`, '-boot', 'a',
  ];
  const r = await run(argv, { timeoutMs, allowFailure: true }).catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
  const seconds = (performance.now() - t0) / 1000;
  // isa-debug-exit with 0 ends QEMU with (0 << 1) | 1
  if (r.code === 1) return seconds;
  if (seconds * 1000 >= timeoutMs - 50) return 'timeout';
  return { error: r.stderr.trim().split('\n').find((l) => /error|fail/i.test(l))?.replace(/^qemu-system-x86_64: /, '') ?? `exit code ${r.code}` };
}

async function kvmUsable(): Promise<string | undefined> {
  if (!existsSync('/dev/kvm')) return '/dev/kvm is missing (no hardware virtualization, or the kvm module is not loaded)';
  return access('/dev/kvm', constants.R_OK | constants.W_OK).then(
    () => undefined,
    (e: NodeJS.ErrnoException) => `/dev/kvm cannot be opened (${e.code})`,
  );
}

/**
 * Boots the probe guest under TCG, then under KVM for at most three times as long. Takes
 * about a second. Its disk goes in `scratch` (lodged's own, emptied at each start, so a
 * lodged killed during the probe leaves nothing behind).
 */
export async function probeAccel(qemu: string, scratch: string): Promise<ProbeResult> {
  const dir = await mkdtemp(path.join(scratch, 'accel-'));
  try {
    const image = path.join(dir, 'probe.img');
    await writeFile(image, probeBootSector(200));
    const tcg = await runProbe(qemu, image, 'tcg', tcgCpu, 30_000);
    if (typeof tcg !== 'number') throw new Error(`QEMU cannot run the accelerator probe under TCG: ${tcg === 'timeout' ? 'it did not end in 30 s' : tcg.error}`);
    const missing = await kvmUsable();
    if (missing) return { tcgSeconds: tcg, kvm: { kind: 'missing', why: missing } };
    const limitMs = Math.max(1000, tcg * 3000);
    let why = '';
    for (const cpu of kvmCpus) {
      const kvm = await runProbe(qemu, image, 'kvm', cpu, limitMs);
      if (typeof kvm === 'number') return { tcgSeconds: tcg, kvm: { kind: 'ran', seconds: kvm, cpu } };
      if (kvm === 'timeout') return { tcgSeconds: tcg, kvm: { kind: 'slow', moreThanSeconds: limitMs / 1000, cpu } };
      why = kvm.error;
    }
    return { tcgSeconds: tcg, kvm: { kind: 'failed', why } };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
