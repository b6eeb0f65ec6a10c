/**
 * @module Reading a qcow2 disk as the guest sees it, without QEMU: its clusters through
 * the L1 and L2 tables, unallocated ones from its backing disk (given by the caller, never
 * the name the file holds), zero clusters as zeros, compressed ones inflated (zlib or
 * zstd); and its persistent dirty bitmaps (the bitmaps header extension), which QEMU writes
 * when it closes the disk. A backup reads a vm's disk this way, and only the chunks a
 * bitmap says changed.
 *
 * The file is hostile (its guest's QEMU wrote it): every offset and size is checked
 * against the file and the format's limits before it is used, and a disk this reader does
 * not know (encrypted, an external data file, extended L2 entries) is refused by name.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import { decompressBounded, firstFrameBytes } from '../lib/zstd.js';
import type { DiskSource } from './backup-store/disk.js';

/** What a qcow2 disk reads through: its own clusters over its backing disk's bytes. */
export interface Qcow2Disk extends DiskSource {
  /** The backing file its header names (QEMU opens that one), if any. */
  readonly backingName: string | undefined;
  /** Its persistent dirty bitmaps as the file has them. */
  readonly bitmaps: readonly Qcow2Bitmap[];
  /** The granules of `bitmap` that are set: [offset, length) byte ranges of the disk. */
  dirtyRanges(bitmap: Qcow2Bitmap): Promise<Array<[number, number]>>;
  close(): Promise<void>;
}

/** The disk under an overlay; closed with it. */
export type Backing = DiskSource & { close?(): Promise<void> };

export interface Qcow2Bitmap {
  name: string;
  /** Bytes of the disk a bit stands for. */
  granularity: number;
  /** QEMU had it open for writing and did not close it: what it holds is not to be trusted. */
  inUse: boolean;
  /** It records writes (QEMU's `auto` flag); a disabled one holds what it had when disabled. */
  recording: boolean;
  tableOffset: number;
  tableEntries: number;
}

const magic = 0x514649fb;
const qcowHeaderV2Bytes = 72;
const extensionBitmaps = 0x23852875;
const incompatible = { dirty: 1n, corrupt: 2n, externalData: 4n, compressionType: 8n, extendedL2: 16n };
const autoclearBitmaps = 1n;
/** Bits 9..55 of a table entry: a host offset. */
const offsetMask = 0x00ff_ffff_ffff_fe00n;
const compressedFlag = 1n << 62n;
const zeroFlag = 1n;
const maxL1Bytes = 32 * 1024 ** 2;
const maxBitmaps = 65535;
const maxBitmapDirectoryBytes = 64 * 1024 ** 2;
const l2CacheEntries = 64;
/** A bitmap of a 256 TiB disk at 64 KiB a bit; a larger one (a hostile file's) is not read. */
const maxBitmapBits = 2 ** 32;
/** Pieces of a bitmap past which it is no use to a backup (it reads the disk whole instead). */
const maxRanges = 2 ** 20;

class Qcow2Error extends Error {
  constructor(file: string, what: string) {
    super(`${file} is not a qcow2 disk Lodge can read: ${what}`);
  }
}

/**
 * Opens `file` (a regular file, not followed if a link) as qcow2. `backing` opens, when
 * first needed, what its clusters leave unallocated (past the backing's end: zeros); a read
 * that needs it from a disk that names a backing file while none is given fails.
 */
export async function openQcow2(file: string, backing?: () => Promise<Backing>): Promise<Qcow2Disk> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    if (!(await fh.stat()).isFile()) throw new Qcow2Error(file, 'it is not a regular file');
    return await Qcow2Reader.read(file, fh, backing);
  } catch (e) {
    await fh.close();
    throw e;
  }
}

class Qcow2Reader implements Qcow2Disk {
  readonly bitmaps: Qcow2Bitmap[] = [];
  private readonly l2Cache = new Map<number, BigUint64Array>();
  private l1: BigUint64Array = new BigUint64Array(0);

  private readonly file: string;
  private readonly fh: FileHandle;
  private readonly fileSize: number;
  private readonly clusterBits: number;
  readonly size: number;
  private readonly zstd: boolean;
  readonly backingName: string | undefined;
  private readonly openBacking: (() => Promise<Backing>) | undefined;
  private backing: Promise<Backing> | undefined;

  private constructor(o: { file: string; fh: FileHandle; fileSize: number; clusterBits: number; size: number; zstd: boolean; backingName: string | undefined; openBacking: (() => Promise<Backing>) | undefined }) {
    this.file = o.file;
    this.fh = o.fh;
    this.fileSize = o.fileSize;
    this.clusterBits = o.clusterBits;
    this.size = o.size;
    this.zstd = o.zstd;
    this.backingName = o.backingName;
    this.openBacking = o.openBacking;
  }

  private get clusterSize(): number {
    return 2 ** this.clusterBits;
  }

  static async read(file: string, fh: FileHandle, backing: (() => Promise<Backing>) | undefined): Promise<Qcow2Reader> {
    const fileSize = (await fh.stat()).size;
    const bad = (what: string) => new Qcow2Error(file, what);
    const head = await readExactly(fh, 0, Math.min(fileSize, 4096), () => bad('it is shorter than its header'));
    if (head.length < qcowHeaderV2Bytes || head.readUInt32BE(0) !== magic) throw bad('no qcow2 magic at its start');
    const version = head.readUInt32BE(4);
    if (version !== 2 && version !== 3) throw bad(`version ${version} (2 and 3 are known)`);
    const clusterBits = head.readUInt32BE(20);
    if (clusterBits < 9 || clusterBits > 21) throw bad(`cluster bits ${clusterBits} (9 to 21 are valid)`);
    const size = Number(head.readBigUInt64BE(24));
    if (!Number.isSafeInteger(size) || size > 2 ** 50) throw bad(`a virtual size of ${head.readBigUInt64BE(24)} bytes`);
    if (head.readUInt32BE(32) !== 0) throw bad('it is encrypted');
    const backingAt = Number(head.readBigUInt64BE(8));
    const hasBacking = backingAt !== 0;
    const backingBytes = head.readUInt32BE(16);
    if (hasBacking && (backingBytes === 0 || backingBytes > 1023 || backingAt + backingBytes > head.length)) throw bad('its backing file name is not within its header');
    let incompat = 0n;
    let autoclear = 0n;
    let headerLength = qcowHeaderV2Bytes;
    let zstd = false;
    if (version === 3) {
      if (head.length < 104) throw bad('its version 3 header is cut short');
      incompat = head.readBigUInt64BE(72);
      autoclear = head.readBigUInt64BE(88);
      headerLength = head.readUInt32BE(100);
      if (headerLength < 104 || headerLength > head.length) throw bad(`a header length of ${headerLength}`);
      if (incompat & incompatible.corrupt) throw bad('QEMU marked it corrupt');
      if (incompat & incompatible.externalData) throw bad('its data is in an external file');
      if (incompat & incompatible.extendedL2) throw bad('it has extended L2 entries (subclusters)');
      if (incompat & ~(incompatible.dirty | incompatible.compressionType)) throw bad(`unknown incompatible features 0x${incompat.toString(16)}`);
      zstd = (incompat & incompatible.compressionType) !== 0n && headerLength > 104 && head[104] === 1;
      if ((incompat & incompatible.compressionType) && !zstd && headerLength > 104 && head[104] !== 0) throw bad(`compression type ${head[104]}`);
    }
    const backingName = hasBacking ? head.toString('utf8', backingAt, backingAt + backingBytes) : undefined;
    const reader = new Qcow2Reader({ file, fh, fileSize, clusterBits, size, zstd, backingName, openBacking: hasBacking ? (backing ?? (() => Promise.reject(bad('it names a backing file, and none was given to read it over')))) : undefined });
    const l1Entries = head.readUInt32BE(36);
    const l1Offset = Number(head.readBigUInt64BE(40));
    const l2Entries = reader.clusterSize / 8;
    if (l1Entries < Math.ceil(size / reader.clusterSize / l2Entries) || l1Entries * 8 > maxL1Bytes) throw bad(`an L1 table of ${l1Entries} entries for ${size} bytes`);
    reader.l1 = toBigUint64(await reader.region(l1Offset, l1Entries * 8, 'its L1 table'));
    await reader.readExtensions(head, headerLength, (autoclear & autoclearBitmaps) !== 0n);
    return reader;
  }

  /** `length` bytes at `offset`, which must lie within the file. */
  private async region(offset: number, length: number, what: string): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.fileSize) throw new Qcow2Error(this.file, `${what} lies outside the file`);
    return readExactly(this.fh, offset, length, () => new Qcow2Error(this.file, `${what} is cut short`));
  }

  private async readExtensions(head: Buffer, at: number, bitmapsConsistent: boolean): Promise<void> {
    for (let off = at; off + 8 <= head.length; ) {
      const type = head.readUInt32BE(off);
      const length = head.readUInt32BE(off + 4);
      if (type === 0) return;
      const data = off + 8;
      if (data + length > head.length) throw new Qcow2Error(this.file, 'a header extension runs past its first cluster');
      // bitmaps a program that does not know them left behind (the autoclear bit gone) are stale
      if (type === extensionBitmaps && bitmapsConsistent) await this.readBitmapDirectory(head.subarray(data, data + length));
      off = data + Math.ceil(length / 8) * 8;
    }
  }

  private async readBitmapDirectory(ext: Buffer): Promise<void> {
    if (ext.length < 24) throw new Qcow2Error(this.file, 'its bitmaps extension is cut short');
    const count = ext.readUInt32BE(0);
    const dirBytes = Number(ext.readBigUInt64BE(8));
    if (count > maxBitmaps) throw new Qcow2Error(this.file, `${count} bitmaps`);
    // QEMU's own bound: a file may be large (sparse), what is read of it is not
    if (dirBytes > maxBitmapDirectoryBytes) throw new Qcow2Error(this.file, `a bitmap directory of ${dirBytes} bytes`);
    const dir = await this.region(Number(ext.readBigUInt64BE(16)), dirBytes, 'its bitmap directory');
    for (let off = 0, n = 0; n < count; n++) {
      if (off + 24 > dir.length) throw new Qcow2Error(this.file, 'its bitmap directory is cut short');
      const flags = dir.readUInt32BE(off + 12);
      const granularityBits = dir[off + 17]!;
      const nameBytes = dir.readUInt16BE(off + 18);
      const extraBytes = dir.readUInt32BE(off + 20);
      const nameAt = off + 24 + extraBytes;
      if (nameAt + nameBytes > dir.length) throw new Qcow2Error(this.file, 'a bitmap entry runs past its directory');
      if (dir[off + 16] !== 1 || granularityBits < 9 || granularityBits > 31) throw new Qcow2Error(this.file, `bitmap ${n} is not a dirty-tracking bitmap QEMU writes`);
      this.bitmaps.push({
        name: dir.toString('utf8', nameAt, nameAt + nameBytes),
        granularity: 2 ** granularityBits,
        inUse: (flags & 1) !== 0,
        recording: (flags & 2) !== 0,
        tableOffset: Number(dir.readBigUInt64BE(off)),
        tableEntries: dir.readUInt32BE(off + 8),
      });
      off = Math.ceil((nameAt + nameBytes) / 8) * 8;
    }
  }

  async dirtyRanges(bitmap: Qcow2Bitmap): Promise<Array<[number, number]>> {
    if (bitmap.inUse) throw new Qcow2Error(this.file, `bitmap ${bitmap.name} was not closed by QEMU: it cannot be trusted`);
    const bits = Math.ceil(this.size / bitmap.granularity);
    if (bits > maxBitmapBits) throw new Qcow2Error(this.file, `bitmap ${bitmap.name} has ${bits} bits, more than Lodge reads`);
    const bitsPerCluster = this.clusterSize * 8;
    const entries = Math.ceil(bits / bitsPerCluster);
    if (bitmap.tableEntries !== entries) throw new Qcow2Error(this.file, `bitmap ${bitmap.name} has ${bitmap.tableEntries} table entries, not ${entries}`);
    const table = toBigUint64(await this.region(bitmap.tableOffset, entries * 8, `the table of bitmap ${bitmap.name}`));
    const ranges: Array<[number, number]> = [];
    const mark = (bit: number, count = 1) => {
      const from = bit * bitmap.granularity;
      const to = Math.min(this.size, from + count * bitmap.granularity);
      const last = ranges.at(-1);
      if (last && last[0] + last[1] === from) last[1] = to - last[0];
      else if (ranges.length >= maxRanges) throw new Qcow2Error(this.file, `bitmap ${bitmap.name} is in more than ${maxRanges} pieces`);
      else ranges.push([from, to - from]);
    };
    for (let e = 0; e < entries; e++) {
      const entry = table[e]!;
      const first = e * bitsPerCluster;
      const inCluster = Math.min(bitsPerCluster, bits - first);
      const at = Number(entry & offsetMask);
      if (at === 0) {
        // no cluster: the low bit says all set or all clear
        if (entry & 1n) mark(first, inCluster);
        continue;
      }
      const data = await this.region(at, this.clusterSize, `a cluster of bitmap ${bitmap.name}`);
      for (let byte = 0; byte * 8 < inCluster; byte++) {
        if (data[byte] === 0) continue;
        if (data[byte] === 0xff && byte * 8 + 8 <= inCluster) {
          mark(first + byte * 8, 8);
          continue;
        }
        for (let b = byte * 8; b < Math.min(inCluster, byte * 8 + 8); b++) if (data[byte]! & (1 << (b & 7))) mark(first + b);
      }
    }
    return ranges;
  }

  private async l2Table(l1Index: number): Promise<BigUint64Array | undefined> {
    const at = Number(this.l1[l1Index]! & offsetMask);
    if (at === 0) return undefined;
    let table = this.l2Cache.get(at);
    if (!table) {
      table = toBigUint64(await this.region(at, this.clusterSize, 'an L2 table'));
      if (this.l2Cache.size >= l2CacheEntries) this.l2Cache.delete(this.l2Cache.keys().next().value!);
      this.l2Cache.set(at, table);
    }
    return table;
  }

  /** Reads [offset, offset + length) into `out` at `outAt`; false when all of it is known zeros. */
  private async readCluster(offset: number, length: number, out: Buffer, outAt: number): Promise<boolean> {
    const cluster = Math.floor(offset / this.clusterSize);
    const within = offset - cluster * this.clusterSize;
    const l2Entries = this.clusterSize / 8;
    const table = await this.l2Table(Math.floor(cluster / l2Entries));
    const entry = table ? table[cluster % l2Entries]! : 0n;
    if (entry & compressedFlag) {
      const data = await this.compressedCluster(entry);
      data.copy(out, outAt, within, within + length);
      return true;
    }
    const at = Number(entry & offsetMask);
    if (entry & zeroFlag) return false;
    if (at !== 0) {
      // a last cluster the file ends inside of reads as zeros past its end
      const n = Math.min(length, this.fileSize - (at + within));
      if (n > 0) (await this.region(at + within, n, 'a data cluster')).copy(out, outAt);
      else if (at + within > this.fileSize) throw new Qcow2Error(this.file, 'a data cluster lies outside the file');
      return true;
    }
    if (!this.openBacking) return false;
    this.backing ??= this.openBacking();
    const backing = await this.backing;
    if (offset >= backing.size) return false;
    const n = Math.min(length, backing.size - offset);
    const data = await backing.read(offset, n);
    if (data === 'zero') return false;
    out.set(data, outAt);
    return true;
  }

  private async compressedCluster(entry: bigint): Promise<Buffer> {
    const x = BigInt(62 - (this.clusterBits - 8));
    const at = Number(entry & ((1n << x) - 1n));
    const sectors = Number((entry >> x) & ((1n << (62n - x)) - 1n)) + 1;
    const bytes = Math.min(sectors * 512 - (at % 512), this.fileSize - at);
    const packed = await this.region(at, Math.max(0, bytes), 'a compressed cluster');
    let data: Buffer;
    try {
      // the sectors a cluster takes end with padding after its one frame
      data = this.zstd ? decompressBounded(packed.subarray(0, firstFrameBytes(packed)), this.clusterSize) : inflateRawSync(packed, { finishFlush: 2, maxOutputLength: this.clusterSize });
    } catch {
      throw new Qcow2Error(this.file, `a compressed cluster at ${at} does not inflate`);
    }
    if (data.length < this.clusterSize) data = Buffer.concat([data, Buffer.alloc(this.clusterSize - data.length)]);
    return data.subarray(0, this.clusterSize);
  }

  async read(offset: number, length: number): Promise<Uint8Array | 'zero'> {
    if (offset < 0 || offset + length > this.size) throw new Qcow2Error(this.file, `a read of ${length} bytes at ${offset} is past its ${this.size} bytes`);
    const out = Buffer.alloc(length);
    let any = false;
    for (let done = 0; done < length; ) {
      const at = offset + done;
      const n = Math.min(length - done, this.clusterSize - (at % this.clusterSize));
      if (await this.readCluster(at, n, out, done)) any = true;
      done += n;
    }
    return any ? out : 'zero';
  }

  /** Closes the file, and the backing disk if it was opened. */
  async close(): Promise<void> {
    await this.fh.close();
    const backing = await this.backing?.catch(() => undefined);
    await backing?.close?.();
  }
}

async function readExactly(fh: FileHandle, offset: number, length: number, short: () => Error): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
    if (bytesRead === 0) throw short();
    got += bytesRead;
  }
  return buf;
}

/** Big-endian 64-bit entries as numbers' bigints. */
function toBigUint64(buf: Buffer): BigUint64Array {
  const out = new BigUint64Array(buf.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = buf.readBigUInt64BE(i * 8);
  return out;
}
