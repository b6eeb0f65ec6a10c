import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baseShares, decideCpuShares, describe, peakOver, useOver, type CpuGuest } from './cpu-shares.js';

const settings = { windowMs: 60_000, quietMs: 30_000 };
/** Samples every 5 s over `seconds`, using `rate` CPUs (a function of the time for a change midway). */
function samples(seconds: number, rate: (t: number) => number): CpuGuest['samples'] {
  const out = [{ atMs: 0, cpuSeconds: 0 }];
  for (let t = 5; t <= seconds; t += 5) out.push({ atMs: t * 1000, cpuSeconds: out.at(-1)!.cpuSeconds + 5 * rate(t) });
  return out;
}
const guest = (name: string, over: Partial<CpuGuest> = {}): CpuGuest => ({ name, priority: 'normal', samples: [], lowered: false, ...over });
const decide = (...guests: CpuGuest[]) => new Map(decideCpuShares(guests, settings).map((d) => [d.name, d]));

test('the base weight is what limits.cpu gives, weighed by the priority', () => {
  assert.equal(baseShares('normal', undefined), 1024);
  assert.equal(baseShares('low', undefined), 512);
  assert.equal(baseShares('high', 2), 4096);
  assert.equal(baseShares('normal', 0.5), 512);
  assert.equal(baseShares('low', 0.001), 2);
});

test('a guest that keeps a CPU busy for the whole window drops to a quarter of its base, and says why', () => {
  const d = decide(guest('spin1', { samples: samples(65, () => 0.98) }), guest('idle1', { samples: samples(65, () => 0.01) }));
  assert.deepEqual([d.get('spin1')!.shares, d.get('spin1')!.lowered], [256, true]);
  assert.equal(describe(d.get('spin1')!, 1024), 'spin1 used 98% of a CPU for 60 s; its shares 1024 -> 256 so interactive guests go first');
  assert.deepEqual([d.get('idle1')!.shares, d.get('idle1')!.lowered], [1024, false]);
});

test('not for a moment less than the window, nor for a bursty guest, nor for one busy below the mark', () => {
  const d = decide(
    guest('young', { samples: samples(55, () => 1) }),
    // busy half of each 20 s: an interactive guest's bursts
    guest('bursty', { samples: samples(120, (t) => (t % 20 < 10 ? 1 : 0.05)) }),
    guest('steady', { samples: samples(120, () => 0.8) }),
  );
  for (const name of ['young', 'bursty', 'steady']) assert.equal(d.get(name)!.shares, 1024, name);
});

test('what it may use is one CPU, or its limit when that is less; more threads than one CPU count as one', () => {
  // half a CPU of a 0.5 limit is all it may use
  const limited = decide(guest('half', { cpuLimit: 0.5, samples: samples(60, () => 0.49) })).get('half')!;
  assert.deepEqual([limited.shares, limited.lowered], [128, true]);
  assert.match(limited.why, /used 98% of its 0.5 CPU for 60 s/);
  const wide = decide(guest('wide', { cpuLimit: 4, samples: samples(60, () => 3) })).get('wide')!;
  assert.deepEqual([wide.shares, wide.lowered], [1024, true]);
});

test('a lowered guest stays lowered while it spins on, and gets its base back after it has been quiet (hysteresis)', () => {
  const spinning = decide(guest('s', { lowered: true, samples: samples(120, () => 0.6) })).get('s')!;
  assert.deepEqual([spinning.shares, spinning.lowered], [256, true]);
  assert.match(spinning.why, /s still spins \(60% of a CPU over the last 30 s\)/);
  // quiet on average over 30 s, but busy in one round of it: still lowered
  const once = decide(guest('s', { lowered: true, samples: samples(120, (t) => (t === 100 ? 1 : 0)) })).get('s')!;
  assert.equal(once.lowered, true);
  // quiet for 20 s only: still lowered
  const brief = decide(guest('s', { lowered: true, samples: samples(120, (t) => (t > 100 ? 0 : 1)) })).get('s')!;
  assert.equal(brief.lowered, true);
  // quiet for 30 s: back to its base
  const quiet = decide(guest('s', { lowered: true, priority: 'high', samples: samples(120, (t) => (t > 90 ? 0.02 : 1)) })).get('s')!;
  assert.deepEqual([quiet.shares, quiet.lowered], [2048, false]);
  assert.equal(describe(quiet, 512), "s has been quiet for 30 s (at most 2% of a CPU); its shares 512 -> 2048, its high priority's weight again");
});

test('priorities order what is left: a high spinner still weighs as much as a low guest, a high one four times a low', () => {
  const d = decide(
    guest('hs', { priority: 'high', samples: samples(60, () => 1) }),
    guest('l', { priority: 'low', samples: samples(60, () => 0.1) }),
    guest('h', { priority: 'high', samples: samples(60, () => 0.1) }),
  );
  assert.deepEqual([d.get('hs')!.shares, d.get('l')!.shares, d.get('h')!.shares], [512, 512, 2048]);
  assert.equal(describe(d.get('h')!, 1024), 'h is of high priority (twice the 1024 its limits give); its shares 1024 -> 2048');
});

test('a guest out of the loop holds its base weight, spinning or not', () => {
  const d = decide(guest('off', { outOfLoop: true, lowered: true, priority: 'low', samples: samples(60, () => 1) })).get('off')!;
  assert.deepEqual([d.shares, d.lowered], [512, false]);
  assert.match(d.why, /--autonomic off/);
});

test('use over a span needs samples that long, counts each round up to what it may use, and a counter that restarted as no use', () => {
  // two threads busy for the last half of the window: half the window's use, not all of it
  const burst = guest('g', { samples: samples(60, (t) => (t > 30 ? 2 : 0)) });
  assert.equal(useOver(burst, 60_000), 0.5);
  assert.equal(decide(burst).get('g')!.lowered, false);
  assert.equal(useOver(guest('g', { samples: samples(25, () => 1) }), 30_000), undefined);
  assert.equal(useOver(guest('g', { samples: samples(30, () => 0.5) }), 30_000), 0.5);
  assert.equal(peakOver(guest('g', { samples: samples(30, (t) => (t === 10 ? 0.7 : 0.1)) }), 30_000), 0.7);
  assert.equal(useOver(guest('g', { samples: [{ atMs: 0, cpuSeconds: 50 }, { atMs: 10_000, cpuSeconds: 1 }] }), 10_000), 0);
});
