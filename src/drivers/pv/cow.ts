/**
 * @module The header of a UML copy-on-write file (version 3, big-endian): which backing
 * file it was written over, and that file's mtime and size then. UML refuses a COW file
 * whose backing file changed, by panicking at boot; Lodge checks first and says why.
 */
export interface CowHeader {
  backingFile: string;
  mtime: number;
  size: number;
}

const magic = 0x4f4f4f4d;
const pathLength = 4096;
const backingOffset = 32;
/** How much of the file the header takes. */
export const cowHeaderBytes = backingOffset + pathLength;

const sectorBytes = 512;
const alignment = 4096;
const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

/**
 * A new COW file's layout over a backing file of `header.size` bytes, as UML makes it:
 * the header, its bitmap (a bit per sector) from the next alignment, the data after.
 */
export function cowLayout(size: number): { bitmapOffset: number; dataOffset: number } {
  const bitmapOffset = roundUp(cowHeaderBytes, alignment);
  return { bitmapOffset, dataOffset: roundUp(bitmapOffset + Math.ceil(size / sectorBytes / 8), alignment) };
}

/** The first bytes of a new COW file (up to its bitmap, which is all zeros: nothing written yet). */
export function cowHeader(header: CowHeader): Buffer {
  const buf = Buffer.alloc(cowLayout(header.size).bitmapOffset);
  buf.writeUInt32BE(magic, 0);
  buf.writeUInt32BE(3, 4);
  buf.writeUInt32BE(header.mtime, 8);
  buf.writeBigUInt64BE(BigInt(header.size), 12);
  buf.writeUInt32BE(sectorBytes, 20);
  buf.writeUInt32BE(alignment, 24);
  // cow_format 0: a bitmap
  const name = Buffer.from(header.backingFile);
  if (name.length >= pathLength) throw new Error(`a COW file's backing path holds at most ${pathLength - 1} bytes: ${header.backingFile}`);
  name.copy(buf, backingOffset);
  return buf;
}

export function parseCowHeader(buf: Buffer): CowHeader | undefined {
  if (buf.length < backingOffset || buf.readUInt32BE(0) !== magic || buf.readUInt32BE(4) !== 3) return undefined;
  const name = buf.subarray(backingOffset, backingOffset + pathLength);
  const end = name.indexOf(0);
  return {
    mtime: buf.readUInt32BE(8),
    size: Number(buf.readBigUInt64BE(12)),
    backingFile: name.subarray(0, end < 0 ? name.length : end).toString(),
  };
}

/** The header of a COW file laid out as Lodge and UML lay out theirs (512-byte sectors, 4096 alignment, a bitmap), or why not. */
export function layoutHeader(buf: Buffer): CowHeader {
  const header = parseCowHeader(buf);
  if (!header) throw new Error('it is not a UML COW file (version 3)');
  if (buf.readUInt32BE(20) !== sectorBytes || buf.readUInt32BE(24) !== alignment || buf.readUInt32BE(28) !== 0) {
    throw new Error(`its layout is not one Lodge makes (sectors of ${buf.readUInt32BE(20)} bytes, alignment ${buf.readUInt32BE(24)}, format ${buf.readUInt32BE(28)})`);
  }
  return header;
}

/** The byte ranges of [from, to) whose sectors have their bit set. */
export function* setRuns(bitmap: Buffer, from: number, to: number): Generator<[number, number]> {
  let runStart = -1;
  for (let s = Math.floor(from / sectorBytes); s * sectorBytes < to; s++) {
    const byte = bitmap[s >> 3] ?? 0;
    // a byte of no set bits passes eight sectors at once
    if (byte === 0 && (s & 7) === 0 && runStart < 0) {
      s += 7;
      continue;
    }
    const set = (byte & (1 << (s & 7))) !== 0;
    if (set && runStart < 0) runStart = Math.max(s * sectorBytes, from);
    if (!set && runStart >= 0) {
      yield [runStart, s * sectorBytes];
      runStart = -1;
    }
  }
  if (runStart >= 0) yield [runStart, to];
}

/**
 * Writes what a COW file holds over a copy of its backing file: `pieces` are the COW file's
 * bytes in order (bytes, or a count of zero bytes that no one stored), `write` puts bytes at
 * an offset of the disk. Only the sectors whose bit is set are written, from their place in
 * the data area (UML's bitmap: bit n%8 of byte n/8 for sector n). A file laid out otherwise
 * than Lodge makes them is refused, and so is one that ends before its data area.
 */
export async function applyCow(pieces: AsyncIterable<Buffer | number>, write: (at: number, data: Buffer) => Promise<void>): Promise<CowHeader> {
  let head: Buffer[] = [];
  let headBytes = 0;
  let need = cowHeaderBytes;
  let header: CowHeader | undefined;
  let bitmap: Buffer | undefined;
  let dataOffset = 0;
  let pos = 0;
  const zeros = Buffer.alloc(1 << 20);
  for await (const piece of pieces) {
    const length = typeof piece === 'number' ? piece : piece.length;
    let used = 0;
    // the header first, then as far as the data area it places
    while (!bitmap && used < length) {
      const take = Math.min(length - used, need - headBytes);
      head.push(typeof piece === 'number' ? Buffer.alloc(take) : piece.subarray(used, used + take));
      headBytes += take;
      used += take;
      if (headBytes < need) break;
      const bytes = Buffer.concat(head);
      head = [bytes];
      if (!header) {
        header = layoutHeader(bytes);
        need = dataOffset = cowLayout(header.size).dataOffset;
      } else bitmap = bytes.subarray(cowLayout(header.size).bitmapOffset, dataOffset);
    }
    if (bitmap && used < length) {
      const from = pos + used - dataOffset;
      const to = Math.min(pos + length - dataOffset, header!.size);
      for (const [a, b] of setRuns(bitmap, from, to)) {
        if (typeof piece !== 'number') await write(a, piece.subarray(used + a - from, used + b - from));
        else for (let at = a; at < b; at += zeros.length) await write(at, zeros.subarray(0, Math.min(zeros.length, b - at)));
      }
    }
    pos += length;
  }
  if (!bitmap) throw new Error('it ends before its data area');
  return header!;
}
