import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { dataExtents, type Extent } from './extents.js';
import { withDir } from './temp-dir.test-support.js';

const KiB = 1024;
const MiB = 1024 * KiB;

async function all(it: AsyncIterable<Extent>): Promise<Extent[]> {
  const out: Extent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

test('the data of a sparse file, its short holes counted as data, in batches, never past the size asked', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'sparse');
    const fh = await open(file, 'w+');
    try {
      // written in whole 4 KiB blocks, so that any filesystem allocates just them
      for (const [at, length] of [
        [0, 4 * KiB],
        [MiB, 4 * KiB],
        [10 * MiB, 100 * KiB],
        [10 * MiB + 132 * KiB, 4 * KiB], // after a 32 KiB hole: counted as data
        [63 * MiB, MiB],
      ] as const) {
        await fh.write(randomBytes(length), 0, length, at);
      }
      await fh.truncate(80 * MiB);
      const want: Extent[] = [
        [0, 4 * KiB],
        [MiB, MiB + 4 * KiB],
        [10 * MiB, 10 * MiB + 136 * KiB],
        [63 * MiB, 64 * MiB],
      ];
      assert.deepEqual(await all(dataExtents(fh, 80 * MiB, file)), want);
      assert.deepEqual(await all(dataExtents(fh, 80 * MiB, file, { batch: 1 })), want, 'asked one at a time');
      assert.deepEqual(await all(dataExtents(fh, 80 * MiB, file, { minHole: 4 * KiB })), [...want.slice(0, 2), [10 * MiB, 10 * MiB + 100 * KiB], [10 * MiB + 132 * KiB, 10 * MiB + 136 * KiB], want[3]]);
      // a file grown since its size was taken: nothing past that size
      assert.deepEqual(await all(dataExtents(fh, 10 * MiB + 50 * KiB, file)), [...want.slice(0, 2), [10 * MiB, 10 * MiB + 50 * KiB]]);
      assert.deepEqual(await all(dataExtents(fh, 2 * KiB, file)), [[0, 2 * KiB]]);
    } finally {
      await fh.close();
    }
  });
});
