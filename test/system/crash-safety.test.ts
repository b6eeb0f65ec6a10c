/**
 * Crash safety, the short run: lodged killed with SIGKILL at random moments of a mix of
 * operations on ct and pv guests, volumes, files and networks; after every restart no finished guest is
 * lost, every state is the host's, and nothing is orphaned (test/soak/crash.ts says what
 * is checked). `npm run soak -- --kills 100` runs the long one, with vm guests too.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { crashSoak } from '../soak/crash.js';
import { requireProgram, TestDaemon } from './harness.js';

const d = new TestDaemon({ netns: true });
before(async () => {
  requireProgram('linux.uml', 'user-mode-linux');
  requireProgram('dnsmasq', 'dnsmasq-base');
  await d.start();
  await d.buildBusybox();
});
after(() => d.cleanup());

test('lodged killed at random moments of launches, stops, starts, deletes, volume and file operations and network changes loses nothing and leaves nothing', { timeout: 600_000 }, async () => {
  const seed = Number(process.env.LODGE_CRASH_SEED ?? Date.now() % 1_000_000);
  const counts = await crashSoak(d, { kills: 8, seed, kinds: ['ct', 'pv'], log: (line) => console.log(`# ${line}`) });
  const context = `(seed ${seed}; LODGE_CRASH_SEED=${seed} repeats it)`;
  assert.equal(counts.kills, 8);
  assert.ok(counts.operations >= 8, `operations ran ${context}`);
  assert.deepEqual(counts.guestsLost, [], `no finished guest lost ${context}`);
  assert.deepEqual(counts.untruthful, [], `every state is the host's ${context}`);
  assert.deepEqual(counts.orphans, [], `nothing orphaned ${context}`);
});
