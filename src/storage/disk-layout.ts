/**
 * @module Where an ext2/3/4 filesystem is on a raw disk a guest wrote: the whole disk (Lodge's
 * images make a bare ext4), or a partition of its MBR or GPT table. Everything read is the
 * guest's, so every number is checked against the disk's size; logical partitions of an
 * extended MBR partition are not looked into.
 */

/** Reads `length` bytes at `offset` of the disk (fewer at its end). */
export type DiskRead = (offset: number, length: number) => Promise<Buffer>;

export type ExtPlace = { offset: number; where: string } | { why: string };

const sector = 512;
const extMagicAt = 1024 + 56;
const maxGptEntries = 256;

async function isExt(read: DiskRead, offset: number): Promise<boolean> {
  const b = await read(offset + extMagicAt, 2);
  return b.length === 2 && b.readUInt16LE(0) === 0xef53;
}

interface Partition {
  number: number;
  offset: number;
  bytes: number;
}

async function partitions(read: DiskRead, diskBytes: number): Promise<Partition[] | undefined> {
  const mbr = await read(0, sector);
  if (mbr.length < sector || mbr.readUInt16LE(510) !== 0xaa55) return undefined;
  const entries = [0, 1, 2, 3].map((i) => ({ number: i + 1, type: mbr[446 + 16 * i + 4]!, start: mbr.readUInt32LE(446 + 16 * i + 8), count: mbr.readUInt32LE(446 + 16 * i + 12) }));
  const inDisk = (p: Partition) => p.bytes > 0 && p.offset + p.bytes <= diskBytes;
  if (!entries.some((e) => e.type === 0xee)) {
    return entries.filter((e) => e.type !== 0 && e.type !== 0x05 && e.type !== 0x0f && e.type !== 0x85).map((e) => ({ number: e.number, offset: e.start * sector, bytes: e.count * sector })).filter(inDisk);
  }
  const gpt = await read(sector, 92);
  if (gpt.length < 92 || gpt.toString('latin1', 0, 8) !== 'EFI PART') return [];
  const table = Number(gpt.readBigUInt64LE(72)) * sector;
  const count = Math.min(gpt.readUInt32LE(80), maxGptEntries);
  const size = gpt.readUInt32LE(84);
  if (size < 128 || size > 4096 || table + count * size > diskBytes) return [];
  const data = await read(table, count * size);
  const out: Partition[] = [];
  for (let i = 0; i < count && (i + 1) * size <= data.length; i++) {
    const e = data.subarray(i * size, (i + 1) * size);
    if (e.subarray(0, 16).every((b) => b === 0)) continue;
    const first = Number(e.readBigUInt64LE(32));
    const last = Number(e.readBigUInt64LE(40));
    if (last >= first) out.push({ number: i + 1, offset: first * sector, bytes: (last - first + 1) * sector });
  }
  return out.filter(inDisk);
}

/** Where the disk's ext filesystem is: the whole disk, or of the partitions holding one, the largest (a root, not a /boot). */
export async function findExtFilesystem(read: DiskRead, diskBytes: number): Promise<ExtPlace> {
  if (await isExt(read, 0)) return { offset: 0, where: 'the whole disk' };
  const table = await partitions(read, diskBytes);
  if (!table) return { why: 'it holds no ext2/3/4 filesystem and no partition table' };
  const ext: Partition[] = [];
  for (const p of table) if (await isExt(read, p.offset)) ext.push(p);
  const best = ext.sort((a, b) => b.bytes - a.bytes)[0];
  if (best) return { offset: best.offset, where: `partition ${best.number}` };
  return { why: table.length ? `none of its partitions (${table.map((p) => p.number).join(', ')}) holds an ext2/3/4 filesystem` : 'its partition table has no partition' };
}
