/**
 * @module Content-defined chunking (FastCDC: a gear rolling hash, cut-point skipping
 * below the minimum, and normalized chunking: a stricter mask before the average size
 * and a looser one after it), so that an insertion moves only the chunks around it.
 * The hash is 32-bit so that V8 keeps it in int32 arithmetic; its window is the last
 * 32 bytes. An encrypted store seeds the gear table from its key, so that chunk sizes
 * do not fingerprint known files (as borg does).
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
}

/** The high `bits` bits of a 32-bit word: they depend on the most bytes of the window. */
const highMask = (bits: number) => (bits >= 32 ? -1 : ~((1 << (32 - bits)) - 1)) | 0;

export function cdcParams(min: number, avg: number, max: number, seed: Uint8Array = Buffer.from('lodge cdc gear v1')): CdcParams {
  const gear = new Int32Array(256);
  for (let i = 0; i < 256; i++) gear[i] = createHash('sha256').update(seed).update(Buffer.from([i])).digest().readInt32LE(0);
  const bits = Math.round(Math.log2(avg));
  return { min, avg, max, gear, maskSmall: highMask(bits + 2), maskLarge: highMask(bits - 2) };
}

/** The length of the chunk that starts at `start`, given the bytes up to `end` (all the rest of the stream when it ends there). */
export function findCut(buf: Uint8Array, start: number, end: number, p: CdcParams): number {
  const n = Math.min(end - start, p.max);
  if (n <= p.min) return n;
  const gear = p.gear;
  const normal = start + Math.min(p.avg, n);
  const last = start + n;
  const ms = p.maskSmall;
  const ml = p.maskLarge;
  let h = 0;
  let i = start + p.min;
  for (; i < normal; i++) {
    h = ((h << 1) + gear[buf[i]!]!) | 0;
    if ((h & ms) === 0) return i + 1 - start;
  }
  for (; i < last; i++) {
    h = ((h << 1) + gear[buf[i]!]!) | 0;
    if ((h & ml) === 0) return i + 1 - start;
  }
  return n;
}

/**
 * A window over a byte stream that yields its chunks. Fill it through space()/commit()
 * (a file read goes straight into it) or append(); each chunk it yields is a view,
 * valid until the next fill.
 */
export class CdcStream {
  private readonly buf: Buffer;
  private start = 0;
  private end = 0;
  private readonly p: CdcParams;

  constructor(p: CdcParams) {
    this.p = p;
    this.buf = Buffer.allocUnsafe(2 * p.max);
  }

  /** Forgets what it holds, to start another stream. */
  reset(): void {
    this.start = 0;
    this.end = 0;
  }

  /** Where the next bytes go (at least p.max bytes of room). */
  space(): Buffer {
    if (this.buf.length - this.end < this.p.max) {
      this.buf.copyWithin(0, this.start, this.end);
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

  /** The chunks decided so far; `final` once the stream has ended (then everything left goes). */
  *chunks(final: boolean): Generator<Buffer> {
    while (this.end - this.start >= (final ? 1 : this.p.max)) {
      const n = findCut(this.buf, this.start, this.end, this.p);
      const chunk = this.buf.subarray(this.start, this.start + n);
      this.start += n;
      yield chunk;
    }
  }
}
