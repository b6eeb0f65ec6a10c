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
