import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffMs, decideRestart, formatWait, maxAttempts, resetAfterMs, type GuestEnd } from './restart-policy.js';

const at = 1_000_000_000_000;
const end = (over: Partial<GuestEnd> = {}): GuestEnd => ({ name: 'c1', policy: 'on-failure', how: 'exited with code 1', clean: false, at, history: { attempts: 0 }, ...over });

test('no leaves every guest stopped, whatever its end', () => {
  for (const [how, clean] of [['exited with code 1', false], ['killed by signal 9', false], ['exited with code 0', true]] as const) {
    assert.deepEqual(decideRestart(end({ policy: 'no', how, clean })), { action: 'leave', reason: `c1 ${how}; its restart policy is no: left stopped` });
  }
});

test('on-failure restarts a crash, a non-zero exit and a kill, not a clean exit', () => {
  assert.equal(decideRestart(end({ how: 'exited with code 1' })).action, 'restart');
  assert.equal(decideRestart(end({ how: 'killed by signal 9' })).action, 'restart');
  // a container's init that powers off is ended by SIGINT: its driver says that is clean
  assert.equal(decideRestart(end({ how: 'killed by signal 2', clean: true })).action, 'leave');
  assert.equal(decideRestart(end({ how: 'it ended, and its exit record is unreadable' })).action, 'restart');
  assert.equal(decideRestart(end({ how: 'start of c1 failed: runc create: exit 1' })).action, 'restart');
  const clean = decideRestart(end({ how: 'exited with code 0', clean: true }));
  assert.deepEqual(clean, { action: 'leave', reason: 'c1 exited with code 0, a clean end; its restart policy is on-failure: left stopped' });
});

test('always restarts a clean exit too', () => {
  assert.deepEqual(decideRestart(end({ policy: 'always', how: 'exited with code 0', clean: true })), {
    action: 'restart',
    attempt: 1,
    delayMs: 1000,
    reason: 'c1 exited with code 0; restarting it (always, attempt 1, after 1 s)',
  });
});

test('the wait doubles with each attempt in a row, up to 5 min', () => {
  assert.deepEqual([1, 2, 3, 4, 9, 10, 20].map(backoffMs), [1000, 2000, 4000, 8000, 256_000, 300_000, 300_000]);
  const second = decideRestart(end({ history: { attempts: 1, startedAt: at - 3000 } }));
  assert.deepEqual(second, { action: 'restart', attempt: 2, delayMs: 2000, reason: 'c1 exited with code 1; restarting it (on-failure, attempt 2, after 2 s)' });
  assert.match(decideRestart(end({ history: { attempts: 8, startedAt: at - 1000 } })).reason, /attempt 9, after 4 min 16 s\)$/);
});

test('a guest that ran 10 min before it ended starts its count again', () => {
  const d = decideRestart(end({ history: { attempts: 7, startedAt: at - resetAfterMs } }));
  assert.deepEqual([d.action, d.action === 'restart' && d.attempt], ['restart', 1]);
  const short = decideRestart(end({ history: { attempts: 7, startedAt: at - resetAfterMs + 1 } }));
  assert.deepEqual([short.action, short.action === 'restart' && short.attempt], ['restart', 8]);
});

test('after 10 failed starts in a row it gives up, saying so', () => {
  const d = decideRestart(end({ history: { attempts: maxAttempts, startedAt: at - 5000 } }));
  assert.deepEqual(d, { action: 'give-up', reason: 'c1 exited with code 1; gave up restarting it (on-failure) after 10 failed starts in a row: start it when it is fixed' });
});

test('waits read as words', () => {
  assert.deepEqual([500, 1000, 59_000, 60_000, 128_000].map(formatWait), ['500 ms', '1 s', '59 s', '1 min', '2 min 8 s']);
});
