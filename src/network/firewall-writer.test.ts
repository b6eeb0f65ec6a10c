import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FirewallWriter } from './firewall-writer.js';

/** An apply that records what it was given and takes a tick, failing on texts that match `fail`. */
function recorder(fail?: RegExp) {
  const applied: string[] = [];
  const apply = async (text: string) => {
    await new Promise((r) => setImmediate(r));
    if (fail?.test(text)) throw new Error(`refused: ${text}`);
    applied.push(text);
  };
  return { applied, apply };
}

test('changes that arrive while one runs go together into the next transaction', async () => {
  const r = recorder();
  const w = new FirewallWriter(r.apply, () => 'WHOLE', () => {});
  await Promise.all([w.change(['a']), w.change(['b']), w.change(['c'])]);
  assert.deepEqual(r.applied, ['a', 'b\nc']);
});

test('a rebuild takes the place of the changes waiting with it', async () => {
  const r = recorder();
  let version = 0;
  const w = new FirewallWriter(r.apply, () => `WHOLE-${++version}`, () => {});
  await Promise.all([w.change(['a']), w.change(['b']), w.rebuild(), w.change(['c'])]);
  assert.deepEqual(r.applied, ['a', 'WHOLE-1']);
});

test('a change that fails is followed by a rebuild, and its callers are told of success', async () => {
  const r = recorder(/^bad/);
  const logged: string[] = [];
  const w = new FirewallWriter(r.apply, () => 'WHOLE', (m) => logged.push(m));
  await w.change(['bad element']);
  assert.deepEqual(r.applied, ['WHOLE']);
  assert.match(logged[0]!, /refused: bad element; making it whole again/);
});

test('a rebuild that fails rejects its callers, and the writer goes on', async () => {
  const r = recorder(/^WHOLE/);
  const w = new FirewallWriter(r.apply, () => 'WHOLE', () => {});
  await assert.rejects(w.rebuild(), /refused: WHOLE/);
  await w.change(['fine']);
  assert.deepEqual(r.applied, ['fine']);
});
