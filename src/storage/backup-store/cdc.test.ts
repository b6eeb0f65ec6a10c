import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CdcStream, cdcParams, type CdcParams } from './cdc.js';
import { seededBytes } from './seeded-bytes.test-support.js';

const KiB = 1024;

function cut(data: Buffer, p = cdcParams(16 * KiB, 64 * KiB, 256 * KiB)): Buffer[] {
  const s = new CdcStream(p);
  const out: Buffer[] = [];
  // a chunk is a view, valid until the stream is filled again: copy it at once
  for (const c of s.append(data)) out.push(Buffer.from(c));
  for (const c of s.chunks(true)) out.push(Buffer.from(c));
  return out;
}

test('chunks stay within min and max, cover the data, and average near the target', () => {
  const data = seededBytes('sizes', 8 * 1024 * KiB);
  const chunks = cut(data);
  assert.ok(Buffer.concat(chunks).equals(data));
  for (const c of chunks.slice(0, -1)) assert.ok(c.length >= 16 * KiB && c.length <= 256 * KiB, String(c.length));
  const avg = data.length / chunks.length;
  assert.ok(avg > 32 * KiB && avg < 128 * KiB, `average ${avg}`);
});

test('an insertion moves only the chunks around it', () => {
  const data = seededBytes('insertion', 4 * 1024 * KiB);
  const edited = Buffer.concat([data.subarray(0, 1000 * KiB), seededBytes('inserted', 100), data.subarray(1000 * KiB)]);
  const a = new Set(cut(data).map((c) => c.toString('base64')));
  const b = cut(edited);
  const changed = b.filter((c) => !a.has(c.toString('base64'))).length;
  assert.ok(changed <= 2 && b.length > 20, `${changed} of ${b.length} chunks changed`);
});

test('another gear seed cuts elsewhere (an encrypted store does not reveal boundaries of known data)', () => {
  const data = seededBytes('gear', 2 * 1024 * KiB);
  const a = cut(data).map((c) => c.length);
  const b = cut(data, cdcParams(16 * KiB, 64 * KiB, 256 * KiB, seededBytes('another gear', 32))).map((c) => c.length);
  assert.notDeepEqual(a, b);
});

/** A stream of data and zeros, cut twice: the zeros given as holes (zeros()), and read as bytes. */
function cutBothWays(p: CdcParams, parts: (Buffer | number)[]): { holes: (Buffer | number)[]; read: Buffer[] } {
  const a = new CdcStream(p);
  const b = new CdcStream(p);
  const holes: (Buffer | number)[] = [];
  const read: Buffer[] = [];
  for (const part of parts) {
    if (typeof part === 'number') {
      for (const c of a.zeros(part)) holes.push(typeof c === 'number' ? c : Buffer.from(c));
      for (const c of b.append(Buffer.alloc(part))) read.push(Buffer.from(c));
    } else {
      for (const c of a.append(part)) holes.push(Buffer.from(c));
      for (const c of b.append(part)) read.push(Buffer.from(c));
    }
  }
  for (const c of a.chunks(true)) holes.push(Buffer.from(c));
  for (const c of b.chunks(true)) read.push(Buffer.from(c));
  return { holes, read };
}

/** Seeded data (some of it zeros, as allocated zeros are) and holes of every length around the chunk sizes. */
function seededParts(p: CdcParams, seed: number): (Buffer | number)[] {
  let s = seed;
  const next = (n: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 12) % n; // the low bits of this generator repeat too soon
  };
  const sizes = [1, 31, 32, 33, p.min, p.avg, p.max - 1, p.max, p.zeroChunk, 2 * p.zeroChunk + 5, 5 * p.max + 3];
  const parts: (Buffer | number)[] = [];
  for (let i = 0; i < 40; i++) {
    const size = sizes[next(sizes.length)]! + next(3);
    if (next(2) === 0) parts.push(size);
    else parts.push(next(5) === 0 ? Buffer.alloc(size) : seededBytes(`part ${seed}.${i}`, size));
  }
  return parts;
}

test('holes are cut exactly as the same zeros read, and chunks lying all in a hole are never made', () => {
  // seeds whose zero hash cuts nowhere, after the average size, and before it
  const cases = [
    { seed: 'zeros 0', zeros: 'cut nowhere' },
    { seed: 'zeros 117', zeros: 'cut after avg' },
    { seed: 'zeros 167', zeros: 'cut before avg' },
  ];
  for (const { seed, zeros } of cases) {
    const p = cdcParams(64, 256, 1024, Buffer.from(seed));
    const where = (p.zeroHash & p.maskSmall) === 0 ? 'cut before avg' : (p.zeroHash & p.maskLarge) === 0 ? 'cut after avg' : 'cut nowhere';
    assert.equal(where, zeros, `seed ${seed}`);
    let unmade = 0;
    for (let r = 1; r <= 30; r++) {
      const { holes, read } = cutBothWays(p, seededParts(p, r));
      assert.deepEqual(
        holes.map((c) => (typeof c === 'number' ? c : c.length)),
        read.map((c) => c.length),
        `${seed}, layout ${r}: the same cuts`,
      );
      holes.forEach((c, i) => assert.ok(typeof c === 'number' ? read[i]!.equals(Buffer.alloc(c)) : c.equals(read[i]!), `${seed}, layout ${r}, chunk ${i}`));
      unmade += holes.filter((c) => typeof c === 'number').length;
    }
    assert.ok(unmade > 30, `${seed}: ${unmade} chunks lay all in holes`);
  }
});

test("with a store's chunk sizes, a hole of a terabyte is cut without being made, as the same zeros read would be", () => {
  const p = cdcParams(512 * KiB, 1024 * KiB, 8 * 1024 * KiB);
  const { holes, read } = cutBothWays(p, [seededBytes('a', 3 * 1024 * KiB), 21 * 1024 * KiB, seededBytes('b', 100 * KiB), 2 * 1024 * KiB, seededBytes('c', 5 * 1024 * KiB), 9 * 1024 * KiB]);
  assert.deepEqual(
    holes.map((c) => (typeof c === 'number' ? c : c.length)),
    read.map((c) => c.length),
  );
  const s = new CdcStream(p);
  const started = performance.now();
  let made = 0;
  let length = 0;
  for (const c of s.append(seededBytes('d', KiB))) length += c.length;
  for (const c of s.zeros(2 ** 40)) {
    if (typeof c !== 'number') made++;
    length += typeof c === 'number' ? c : c.length;
  }
  for (const c of s.chunks(true)) length += c.length;
  assert.equal(length, 2 ** 40 + KiB);
  assert.equal(made, 1, 'only the chunk that starts with the data is made');
  assert.ok(performance.now() - started < 2000, `cut in ${performance.now() - started} ms`);
});
