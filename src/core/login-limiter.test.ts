/**
 * The failed-login limiter on a clock of the test's: per user, per address, forgiven on
 * success, counted before scrypt answers, and bounded in memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoginLimiter } from './login-limiter.js';

const minute = 60_000;

function limiter(limits: Partial<ConstructorParameters<typeof LoginLimiter>[0]> = {}) {
  const clock = { now: 1_000_000 };
  const l = new LoginLimiter({ perUser: 5, perAddress: 20, windowMs: 15 * minute, maxKeys: 1000, ...limits }, () => clock.now);
  return { l, clock };
}

test("a user's sixth failure within the window is refused, until its first failure leaves the window", () => {
  const { l, clock } = limiter();
  for (let i = 0; i < 5; i++) {
    assert.deepEqual(l.attempt('alice', '10.0.0.1'), { waitMs: 0 });
    clock.now += minute;
  }
  // the first failure was 5 minutes ago: 10 more minutes to wait, from any address
  assert.deepEqual(l.attempt('alice', '10.0.0.2'), { waitMs: 10 * minute, blocked: 'user' });
  assert.equal(l.failuresOf('alice'), 5);
  clock.now += 10 * minute;
  assert.deepEqual(l.attempt('alice', '10.0.0.1'), { waitMs: 0 });
  assert.equal(l.failuresOf('alice'), 5, 'the oldest left, this one came in');
});

test('one address guessing many users is refused once it passes its own limit', () => {
  const { l } = limiter();
  for (let i = 0; i < 20; i++) assert.equal(l.attempt(`user${i}`, '10.0.0.9').waitMs, 0);
  const r = l.attempt('user99', '10.0.0.9');
  assert.equal(r.blocked, 'address');
  assert.ok(r.waitMs > 0 && r.waitMs <= 15 * minute);
  assert.equal(l.attempt('user99', '10.0.0.10').waitMs, 0, 'another address is not held to it');
});

test('a success forgets the user\'s failures and no longer counts against the address', () => {
  const { l } = limiter({ perAddress: 5 });
  for (let i = 0; i < 4; i++) l.attempt('alice', '10.0.0.1');
  l.attempt('alice', '10.0.0.1');
  l.succeeded('alice', '10.0.0.1');
  assert.equal(l.failuresOf('alice'), 0);
  // the address has its four failures, not five: one more attempt goes through
  assert.equal(l.attempt('bob', '10.0.0.1').waitMs, 0);
  assert.equal(l.attempt('bob', '10.0.0.1').blocked, 'address');
});

test('attempts still waiting for their answer count: a burst cannot pass the limit', () => {
  const { l } = limiter();
  const through = Array.from({ length: 50 }, () => l.attempt('alice', '10.0.0.1')).filter((r) => r.waitMs === 0);
  assert.equal(through.length, 5);
});

test('past maxKeys, the names and addresses seen least recently are forgotten', () => {
  const { l } = limiter({ perUser: 1, perAddress: 1000, maxKeys: 4 });
  // keys: user:u1, then address:a moves behind each new user
  l.attempt('u1', 'a');
  l.attempt('u2', 'a');
  assert.equal(l.attempt('u1', 'a').blocked, 'user');
  l.attempt('u3', 'a'); // user:u1, user:u2, user:u3, address:a: four keys
  l.attempt('u4', 'a'); // a fifth: user:u1, the least recent, goes
  assert.equal(l.failuresOf('u1'), 0);
  assert.equal(l.attempt('u4', 'a').blocked, 'user', 'a recent one stays');
});
