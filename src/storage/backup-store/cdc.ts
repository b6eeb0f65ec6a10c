/**
 * @module Content-defined chunking (FastCDC: a gear rolling hash, cut-point skipping
 * below the minimum, and normalized chunking: a stricter mask before the average size
 * and a looser one after it), so that an insertion moves only the chunks around it.
 * The hash is 32-bit so that V8 keeps it in int32 arithmetic; its window is the last
 * 32 bytes. An encrypted store seeds the gear table from its key, so that chunk sizes
 * do not fingerprint known files (as borg does).
 *
 * Zeros given as such (the holes of a sparse file, never read) are cut exactly where the
 * same zeros read from a file would be, so a file's chunks depend on its content only,
 * not on which of its zeros its filesystem allocated (a copy made dense, or a backup that
 * read the holes, dedups with one that skipped them). Two facts make that cheap: once the
 * hash has taken in 32 zeros in a row it holds a constant (zeroHash), so a run of zeros
 * is not hashed byte by byte; and a chunk that starts in a run of zeros at least
 * zeroChunk long is exactly zeroChunk long, so such chunks are never made.
 */
import { createHash } from 'node:crypto';

export interface CdcParams {
  min: number;
  avg: number;
  max: number;
  gear: Int32Array;
  /** Stricter mask (more bits) used below the average size, looser one above. */
  maskSmall: number;
  maskLarge: number;
  /** The hash after 32 zero bytes in a row, whatever came before them. */
  zeroHash: number;
  /** The length of a chunk of zeros: one starting in zeros at least this long is this long. */
  zeroChunk: number;
}

/** Bytes [from, to) of a buffer known to be zeros. */
export type ZeroRun = [from: number, to: number];

/** The high `bits` bits of a 32-bit word: they depend on the most bytes of the window. */
const highMask = (bits: number) => (bits >= 32 ? -1 : ~((1 << (32 - bits)) - 1)) | 0;

export function cdcParams(min: number, avg: number, max: number, seed: Uint8Array = Buffer.from('lodge cdc gear v1')): CdcParams {
  const gear = new Int32Array(256);
  for (let i = 0; i < 256; i++) gear[i] = createHash('sha256').update(seed).update(Buffer.from([i])).digest().readInt32LE(0);
  const bits = Math.round(Math.log2(avg));
  let zeroHash = 0;
  for (let i = 0; i < 32; i++) zeroHash = ((zeroHash << 1) + gear[0]!) | 0;
  const p: CdcParams = { min, avg, max, gear, maskSmall: highMask(bits + 2), maskLarge: highMask(bits - 2), zeroHash, zeroChunk: max };
  p.zeroChunk = findCut(Buffer.alloc(max), 0, max, p, [[0, max]]);
  return p;
}

const noZeros: readonly ZeroRun[] = [];

/**
 * The length of the chunk that starts at `start`, given the bytes up to `end` (all the rest
 * of the stream when it ends there). Bytes in `zeros` (sorted runs) are known to be zeros:
 * from the 32nd of a run on they are not read, since the hash then holds zeroHash.
 */
export function findCut(buf: Uint8Array, start: number, end: number, p: CdcParams, zeros: readonly ZeroRun[] = noZeros): number {
  const n = Math.min(end - start, p.max);
  if (n <= p.min) return n;
  const gear = p.gear;
  const normal = start + Math.min(p.avg, n);
  const last = start + n;
  const ms = p.maskSmall;
  const ml = p.maskLarge;
  let h = 0;
  let i = start + p.min;
  let k = 0;
  for (;;) {
    // the next run of zeros long enough for the hash to settle in it before it ends
    while (k < zeros.length && Math.max(zeros[k]![0], i) + 31 >= Math.min(zeros[k]![1], last)) k++;
    const settled = k < zeros.length ? Math.max(zeros[k]![0], i) + 31 : last;
    for (const stop = Math.min(normal, settled); i < stop; i++) {
      h = ((h << 1) + gear[buf[i]!]!) | 0;
      if ((h & ms) === 0) return i + 1 - start;
    }
    for (; i < settled; i++) {
      h = ((h << 1) + gear[buf[i]!]!) | 0;
      if ((h & ml) === 0) return i + 1 - start;
    }
    if (i === last) return n;
    // from `settled` to the run's end the hash is zeroHash: one test each side of `normal`
    const zerosEnd = Math.min(zeros[k++]![1], last);
    h = p.zeroHash;
    if (i < normal) {
      if ((h & ms) === 0) return i + 1 - start;
      i = Math.min(normal, zerosEnd);
    }
    if (i < zerosEnd) {
      if ((h & ml) === 0) return i + 1 - start;
      i = zerosEnd;
    }
  }
}

/**
 * A window over a byte stream that yields its chunks. Fill it through space()/commit()
 * (a file read goes straight into it), append() or zeros(); each chunk it yields is a
 * view, valid until the next fill.
 */
export class CdcStream {
  private readonly buf: Buffer;
  private start = 0;
  private end = 0;
  /** The runs of the window that zeros() put there, sorted. */
  private zeroRuns: ZeroRun[] = [];
  private readonly p: CdcParams;

  constructor(p: CdcParams) {
    this.p = p;
    this.buf = Buffer.allocUnsafe(2 * p.max);
  }

  /** Forgets what it holds, to start another stream. */
  reset(): void {
    this.start = 0;
    this.end = 0;
    this.zeroRuns = [];
  }

  /** Where the next bytes go (at least p.max bytes of room). */
  space(): Buffer {
    if (this.buf.length - this.end < this.p.max) {
      this.buf.copyWithin(0, this.start, this.end);
      for (const r of this.zeroRuns) {
        r[0] = Math.max(r[0] - this.start, 0);
        r[1] -= this.start;
      }
      this.end -= this.start;
      this.start = 0;
    }
    return this.buf.subarray(this.end);
  }

  commit(n: number): void {
    this.end += n;
  }

  /** Copies `data` in, yielding the chunks that fill up on the way. */
  *append(data: Uint8Array): Generator<Buffer> {
    let off = 0;
    while (off < data.length) {
      const room = this.space();
      const n = Math.min(room.length, data.length - off);
      room.set(data.subarray(off, off + n));
      this.commit(n);
      off += n;
      yield* this.chunks(false);
    }
  }

  /**
   * Appends `n` zeros without their being read (a hole), yielding the chunks that fill up
   * on the way: one that lies all in these zeros is yielded as its length, never made.
   * Only the zeros that share a chunk with other bytes are put in the window.
   */
  *zeros(n: number): Generator<Buffer | number> {
    yield* this.chunks(false);
    while (n > 0) {
      const held = this.end - this.start;
      const run = this.zeroRuns.at(-1);
      const allZeros = held === 0 || (run !== undefined && run[0] <= this.start && run[1] === this.end);
      if (allZeros && held + n >= this.p.zeroChunk) {
        const fromWindow = Math.min(held, this.p.zeroChunk);
        this.start += fromWindow;
        n -= this.p.zeroChunk - fromWindow;
        this.dropRuns();
        yield this.p.zeroChunk;
        continue;
      }
      // the chunk being cut holds other bytes too, or the zeros end inside it: they go in the window, up to where it must end
      const k = Math.min(n, this.p.max - held);
      this.space().fill(0, 0, k);
      if (run !== undefined && run[1] === this.end) run[1] += k;
      else this.zeroRuns.push([this.end, this.end + k]);
      this.end += k;
      n -= k;
      yield* this.chunks(false);
    }
  }

  /** The chunks decided so far; `final` once the stream has ended (then everything left goes). */
  *chunks(final: boolean): Generator<Buffer> {
    while (this.end - this.start >= (final ? 1 : this.p.max)) {
      const n = findCut(this.buf, this.start, this.end, this.p, this.zeroRuns);
      const chunk = this.buf.subarray(this.start, this.start + n);
      this.start += n;
      this.dropRuns();
      yield chunk;
    }
  }

  /** Forgets the runs of zeros that end before the chunk being cut. */
  private dropRuns(): void {
    while (this.zeroRuns.length > 0 && this.zeroRuns[0]![1] <= this.start) this.zeroRuns.shift();
  }
}
