import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeHealth, newHealthTrack, sideStatus } from './health.js';

const t0 = 1_000_000_000_000;
const up = { answers: true };
const down = (why: string) => ({ answers: false, why });

test('an agent that answered and stops is reported after two probes in a row, once, and again when it answers', () => {
  const track = newHealthTrack();
  const agent = (a: { answers: boolean; why?: string }) => ({ console: up, agent: { name: 'lodge-execd', ...a } });
  assert.deepEqual(judgeHealth('p1', track, agent(up), t0), []);
  assert.deepEqual(sideStatus(track, 'agent', t0), { state: 'answers', how: 'answers' });
  // one lost answer is not news
  assert.deepEqual(judgeHealth('p1', track, agent(down('did not answer in 5000 ms')), t0 + 30_000), []);
  assert.deepEqual(sideStatus(track, 'agent', t0 + 30_000), { state: 'answers', how: 'answers, but missed the last probe: did not answer in 5000 ms' });
  assert.deepEqual(judgeHealth('p1', track, agent(down('did not answer in 5000 ms')), t0 + 60_000), [
    { side: 'agent', silent: true, reason: "p1's lodge-execd has not answered for 30 s (it last answered 60 s ago): did not answer in 5000 ms" },
  ]);
  assert.equal(sideStatus(track, 'agent', t0 + 60_000).state, 'silent');
  assert.deepEqual(judgeHealth('p1', track, agent(down('still')), t0 + 90_000), [], 'said once');
  assert.deepEqual(judgeHealth('p1', track, agent(up), t0 + 120_000), [{ side: 'agent', silent: false, reason: "p1's lodge-execd answers again, after 90 s silent" }]);
  assert.deepEqual(sideStatus(track, 'agent', t0 + 120_000), { state: 'answers', how: 'answers' });
});

test('an agent that never answered since the start is not reported: still booting, or none in the image', () => {
  const track = newHealthTrack();
  for (let i = 0; i < 5; i++) assert.deepEqual(judgeHealth('v1', track, { console: up, agent: { name: 'guest agent', ...down('no answer') } }, t0 + i * 1000), []);
  assert.deepEqual(sideStatus(track, 'agent', t0 + 5000), { state: 'unknown', how: 'has not answered since its start (still booting, or none runs in it): no answer' });
});

test("a console whose holder stops answering is reported even if it never answered; a guest without an agent has none to report", () => {
  const track = newHealthTrack();
  assert.deepEqual(judgeHealth('c1', track, { console: down('lodge-shim (pid 7), which holds its console, is stopped') }, t0), []);
  assert.deepEqual(judgeHealth('c1', track, { console: down('lodge-shim (pid 7), which holds its console, is stopped') }, t0 + 2000), [
    { side: 'console', silent: true, reason: "c1's console has not answered for 2 s: lodge-shim (pid 7), which holds its console, is stopped" },
  ]);
  assert.deepEqual(sideStatus(track, 'agent', t0 + 2000), { state: 'unknown', how: 'no agent is known to run in it' });
  assert.deepEqual(judgeHealth('c1', track, { console: up }, t0 + 4000), [{ side: 'console', silent: false, reason: "c1's console answers again, after 4 s silent" }]);
});

test('a console lodged cannot ask is unknown, not silent', () => {
  const track = newHealthTrack();
  assert.deepEqual(judgeHealth('old', track, {}, t0), []);
  assert.equal(sideStatus(track, 'console', t0).state, 'unknown');
});
