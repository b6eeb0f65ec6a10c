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
