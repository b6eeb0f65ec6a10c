import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideKsm, type KsmInput } from './ksm.js';

const input = (over: Partial<KsmInput> = {}): KsmInput => ({ mode: 'auto', overcommitted: true, vmGuests: 2, run: 0, othersWant: false, startedByLodge: false, ...over });

test('auto starts ksmd while vm guests run and the budget is overcommitted, and stops the ksmd it started once either ends', () => {
  assert.deepEqual(decideKsm(input()), { want: true, set: 1, why: 'the guest memory budget is overcommitted and 2 vm guests run: ksmd merges their identical pages; ksmd started' });
  assert.deepEqual(decideKsm(input({ run: 1, startedByLodge: true })), { want: true, why: 'the guest memory budget is overcommitted and 2 vm guests run: ksmd merges their identical pages' });
  const fits = decideKsm(input({ run: 1, startedByLodge: true, overcommitted: false }));
  assert.equal(fits.set, 0);
  assert.match(fits.why, /^the ceilings of the running guests fit the budget: .*; ksmd stopped$/);
  assert.deepEqual(decideKsm(input({ run: 1, startedByLodge: true, vmGuests: 0 })), { want: false, set: 0, why: 'no vm guest runs (only their memory is mergeable); ksmd stopped' });
  assert.deepEqual(decideKsm(input({ vmGuests: 0 })), { want: false, why: 'no vm guest runs (only their memory is mergeable)' });
});

test('always runs it whenever a vm runs; off never, and never stops it', () => {
  assert.equal(decideKsm(input({ mode: 'always', overcommitted: false, vmGuests: 1 })).set, 1);
  assert.match(decideKsm(input({ mode: 'always', overcommitted: false, vmGuests: 1 })).why, /^1 vm guest run \(lodged --ksm always\); ksmd started$/);
  assert.deepEqual(decideKsm(input({ mode: 'off', run: 1, startedByLodge: true })), { want: false, why: "lodged --ksm off: vm guests' memory is not offered to KSM" });
});

test("a ksmd another lodged wants, or the administrator started, is left running; one unmerging is left alone", () => {
  const others = decideKsm(input({ run: 1, startedByLodge: true, vmGuests: 0, othersWant: true }));
  assert.deepEqual([others.want, others.set], [false, undefined]);
  assert.match(others.why, /^ksmd runs for another lodged on this host; /);
  const admin = decideKsm(input({ run: 1, vmGuests: 0 }));
  assert.deepEqual([admin.set, admin.why.startsWith("ksmd runs, started by the host's administrator: left running; ")], [undefined, true]);
  const unmerging = decideKsm(input({ run: 2 }));
  assert.deepEqual([unmerging.want, unmerging.set], [true, undefined]);
});
