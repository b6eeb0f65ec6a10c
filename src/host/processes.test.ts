import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { identityMismatch, legacyMismatch, parseIdentity, parseStat, readIdentity, type ProcessIdentity } from './processes.js';

test('the start time is field 22 of /proc/PID/stat, read after the last ")" of the name', () => {
  const fields = (state: string) => `${state} 1 100 100 0 -1 4194560 2156 0 0 0 3 1 0 0 20 0 1 0 987654 1234567 300`;
  assert.deepEqual(parseStat(`42 (sleep) ${fields('S')}`), { state: 'S', startTime: 987654 });
  // a name may hold spaces and parentheses: the comm field is up to the last ')'
  assert.deepEqual(parseStat(`42 (a) b ) (c) ${fields('Z')}`), { state: 'Z', startTime: 987654 });
  assert.equal(parseStat('42 (truncated) S 1 2'), undefined);
});

test('this process reads as itself, and a process that ended reads as nothing', async () => {
  const me = readIdentity(process.pid)!;
  assert.equal(me.pid, process.pid);
  assert.match(me.bootId, /^[0-9a-f-]{36}$/);
  assert.deepEqual(readIdentity(process.pid), me, 'stable');
  const child = spawn('true');
  await new Promise((r) => child.once('exit', r));
  assert.equal(readIdentity(child.pid!), undefined);
  assert.equal(readIdentity(0), undefined);
  assert.equal(readIdentity(-1), undefined);
});

const boot = '0f0e0d0c-0000-4000-8000-000000000001';
const recorded: ProcessIdentity = { pid: 4242, bootId: boot, startTime: 5000 };

test('a recorded process is the same only on the same boot with the same start time', () => {
  assert.equal(identityMismatch(recorded, boot, { ...recorded }), undefined);
  assert.equal(identityMismatch(recorded, boot, undefined), 'process 4242 is gone');
  assert.equal(identityMismatch(recorded, boot, { ...recorded, startTime: 5001 }), 'process 4242 is gone and its pid now belongs to another process');
  // after a reboot the pid names nothing of ours, whatever holds it (even with the same start time)
  const other = '0f0e0d0c-0000-4000-8000-000000000002';
  assert.equal(identityMismatch(recorded, other, { ...recorded, bootId: other }), 'process 4242 was recorded before the host last booted');
  assert.equal(identityMismatch(recorded, other, undefined), 'process 4242 was recorded before the host last booted');
});

test('a pid recorded alone is stale when older than the boot, or than the process holding it now', () => {
  const bootedAt = 1_000_000_000_000;
  const current = (startSeconds: number): ProcessIdentity => ({ pid: 7, bootId: boot, startTime: startSeconds * 100 });
  // started 50 s after boot, recorded a second later
  assert.equal(legacyMismatch(7, bootedAt + 51_000, bootedAt, current(50)), undefined);
  assert.equal(legacyMismatch(7, bootedAt - 1, bootedAt, current(50)), 'process 7 was recorded before the host last booted');
  assert.equal(legacyMismatch(7, bootedAt + 51_000, bootedAt, undefined), 'process 7 is gone');
  assert.equal(legacyMismatch(7, bootedAt + 51_000, bootedAt, current(3600)), 'process 7 is gone and its pid now belongs to a process started after it was recorded');
  // within the clock's slack it is still taken as the one recorded
  assert.equal(legacyMismatch(7, bootedAt + 51_000, bootedAt, current(55)), undefined);
});

test('an identity read back from a record is checked field by field', () => {
  assert.deepEqual(parseIdentity({ ...recorded }), recorded);
  for (const bad of [undefined, null, 'x', { ...recorded, pid: 0 }, { ...recorded, pid: '4242' }, { ...recorded, bootId: 1 }, { ...recorded, startTime: 1.5 }, { pid: 1 }]) {
    assert.equal(parseIdentity(bad), undefined, JSON.stringify(bad));
  }
});
