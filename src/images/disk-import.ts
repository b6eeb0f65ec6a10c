/**
 * @module Disk and ISO files offered as images: told apart by their first bytes, then
 * checked before anything is kept. qemu-img must read them as the format they claim, a
 * qcow2 must pass `qemu-img check` and may not point at other files (a backing or data
 * file would let a guest read the host), a raw disk must carry a boot signature, and an
 * ISO must be as long as its own volume descriptor says and carry an El Torito boot record.
 */
import { open, stat } from 'node:fs/promises';
import { LodgeError } from '../api/errors.js';
import { run } from '../lib/exec.js';

export type DiskFormat = 'qcow2' | 'raw' | 'iso';

const sector = 2048;
/** ISO 9660: the primary volume descriptor is sector 16, the El Torito boot record sector 17. */
const pvdAt = 16 * sector;
const bootRecordAt = 17 * sector;

async function readAt(file: string, position: number, length: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, position);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Pure: the disk format that a file's leading bytes (at least 34 KiB of them) show, if any. A raw disk shows nothing. */
export function sniff(head: Buffer): 'qcow2' | 'iso' | undefined {
  if (head.subarray(0, 4).equals(Buffer.from([0x51, 0x46, 0x49, 0xfb]))) return 'qcow2';
  if (head.subarray(pvdAt + 1, pvdAt + 6).toString('latin1') === 'CD001') return 'iso';
  return undefined;
}

export async function sniffFile(file: string): Promise<ReturnType<typeof sniff>> {
  return sniff(await readAt(file, 0, pvdAt + sector));
}

const bad = (message: string) => new LodgeError('BAD_REQUEST', message);

interface QemuImgInfo {
  format: string;
  'virtual-size': number;
  'backing-filename'?: string;
  'format-specific'?: { data?: { 'data-file'?: string } };
}

async function qemuImgInfo(file: string, format: 'qcow2' | 'raw'): Promise<QemuImgInfo> {
  const r = await run(['qemu-img', 'info', '--output=json', '-f', format, file], { allowFailure: true });
  if (r.code !== 0) throw bad(`not a valid ${format} image: ${r.stderr.trim().replace(/^qemu-img: (Could not open '[^']*': )?/, '')}`);
  return JSON.parse(r.stdout) as QemuImgInfo;
}

/** Pure: what is wrong with an ISO, from its volume descriptor, boot record and real size. */
export function isoProblem(pvd: Buffer, bootRecord: Buffer, fileBytes: number): string | undefined {
  if (pvd.length < 136 || pvd[0] !== 1 || pvd.subarray(1, 6).toString('latin1') !== 'CD001') return 'not an ISO 9660 image: no primary volume descriptor';
  const declared = pvd.readUInt32LE(80) * pvd.readUInt16LE(128);
  if (declared > fileBytes) return `truncated ISO: its volume descriptor says ${declared} bytes, the file has ${fileBytes}`;
  if (bootRecord.subarray(7, 30).toString('latin1') !== 'EL TORITO SPECIFICATION') return 'the ISO is not bootable: it has no El Torito boot record';
  return undefined;
}

/** Refuses a file that is not a sound, self-contained, bootable image of `format`; returns its virtual size. */
export async function checkDiskImage(file: string, format: DiskFormat): Promise<number> {
  const bytes = (await stat(file)).size;
  if (format === 'iso') {
    const problem = isoProblem(await readAt(file, pvdAt, sector), await readAt(file, bootRecordAt, sector), bytes);
    if (problem) throw bad(problem);
    return (await qemuImgInfo(file, 'raw'))['virtual-size'];
  }
  const info = await qemuImgInfo(file, format);
  if (format === 'qcow2') {
    if (info.format !== 'qcow2') throw bad(`not a qcow2 image (qemu-img reads it as ${info.format})`);
    if (info['backing-filename']) throw bad(`the qcow2 image has a backing file (${info['backing-filename']}): flatten it first with qemu-img convert -O qcow2`);
    if (info['format-specific']?.data?.['data-file']) throw bad('the qcow2 image keeps its data in an external data file: convert it to a plain qcow2 first');
    // exit 3 is leaked clusters only: wasted space, no harm
    const check = await run(['qemu-img', 'check', '-f', 'qcow2', file], { allowFailure: true, timeoutMs: 600_000 });
    if (check.code !== 0 && check.code !== 3) {
      const output = `${check.stdout}\n${check.stderr}`;
      const summary = /\d+ errors? (were|was) found on the image/.exec(output)?.[0] ?? output.trim().split('\n')[0];
      throw bad(`the qcow2 image is corrupt (qemu-img check: ${summary})`);
    }
  } else {
    if (bytes < 512) throw bad(`not a bootable raw disk: ${bytes} bytes is less than one sector`);
    if (!(await readAt(file, 510, 2)).equals(Buffer.from([0x55, 0xaa]))) throw bad('not a bootable raw disk: no boot signature (55 aa) at the end of its first sector');
  }
  return info['virtual-size'];
}
