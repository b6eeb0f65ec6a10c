/**
 * Users and sessions on a real SQLite store: passwords made or given, logins refused and
 * rate-limited and logged, sessions that end (at their expiry, logout, a new password, the
 * user's deletion), and a database that holds no secret in clear.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LodgeError } from '../api/errors.js';
import { LoginLimiter } from './login-limiter.js';
import { Store } from './store.js';
import { TokenService } from './tokens.js';
import { sessionLifetimeMs, TooManyLogins, UserService } from './users.js';

function setup(t: TestContext) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-users-'));
  const store = new Store(path.join(dir, 'lodge.db'));
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const clock = { now: Date.parse('2026-06-01T00:00:00Z') };
  const logs: string[] = [];
  const log = (m: string) => logs.push(m);
  const users = new UserService({ store, log, now: () => clock.now, limiter: new LoginLimiter({ perUser: 3, perAddress: 10, windowMs: 600_000, maxKeys: 100 }, () => clock.now) });
  const tokens = new TokenService({ store, users, log });
  return { store, users, tokens, clock, logs };
}

const code = (c: string) => (e: unknown) => e instanceof LodgeError && e.code === c;

test('a user added without a password gets one made, shown once, that logs in', async (t) => {
  const { users } = setup(t);
  const made = await users.add({ name: 'alice' });
  assert.equal(made.role, 'admin');
  assert.match(made.password!, /^[A-Za-z0-9_-]{24}$/);
  assert.deepEqual(users.list(), [{ name: 'alice', role: 'admin', createdAt: made.createdAt }]);
  const given = await users.add({ name: 'bob', role: 'viewer', password: 'bobs-password' });
  assert.equal(given.password, undefined, 'a password given is never answered back');
  const { session } = await users.login('alice', made.password!, '10.0.0.1');
  assert.deepEqual({ user: session.user, role: session.role }, { user: 'alice', role: 'admin' });
  assert.equal((await users.login('bob', 'bobs-password', '10.0.0.1')).session.role, 'viewer');
  await assert.rejects(users.add({ name: 'bob' }), code('CONFLICT'));
});

test('a wrong password and an unknown user get the same answer, and both are logged', async (t) => {
  const { users, logs } = setup(t);
  await users.add({ name: 'alice', password: 'right-password' });
  const wrong = await users.login('alice', 'wrong-password', '10.0.0.1').catch((e: unknown) => e);
  const nobody = await users.login('mallory', 'right-password', '10.0.0.1').catch((e: unknown) => e);
  assert.ok(code('UNAUTHENTICATED')(wrong) && code('UNAUTHENTICATED')(nobody));
  assert.equal((wrong as Error).message, (nobody as Error).message);
  assert.ok(logs.some((l) => /login failed: user "alice" from 10\.0\.0\.1; 1 failure/.test(l)), logs.join('\n'));
  assert.ok(logs.some((l) => /login failed: user "mallory" from 10\.0\.0\.1 \(no such user\)/.test(l)));
});

test('after too many failures even the right password is refused, with when to retry, until the window passes', async (t) => {
  const { users, clock, logs } = setup(t);
  await users.add({ name: 'alice', password: 'right-password' });
  for (let i = 0; i < 3; i++) await assert.rejects(users.login('alice', `guess-${i}`, '10.0.0.1'), code('UNAUTHENTICATED'));
  const refused = await users.login('alice', 'right-password', '10.0.0.2').catch((e: unknown) => e);
  assert.ok(refused instanceof TooManyLogins, String(refused));
  assert.equal(refused.status, 429);
  assert.equal(refused.retryAfterSeconds, 600);
  assert.match(refused.message, /too many failed logins for user "alice": try again in 600 s \(after 2026-06-01T00:10:00\.000Z\)/);
  assert.ok(logs.some((l) => l.startsWith('login refused: too many failures for user "alice"')));
  clock.now += 600_000;
  assert.equal((await users.login('alice', 'right-password', '10.0.0.2')).session.user, 'alice');
});

test('a session lasts until its expiry, a logout, a new password or its user\'s deletion', async (t) => {
  const { users, clock } = setup(t);
  await users.add({ name: 'alice', password: 'right-password' });
  const login = () => users.login('alice', 'right-password', '10.0.0.1');

  const a = await login();
  assert.equal(a.maxAgeSeconds, sessionLifetimeMs / 1000);
  assert.deepEqual(users.sessionPrincipal(a.id), { role: 'admin', user: 'alice' });
  assert.equal(users.sessionPrincipal(`${a.id}x`), undefined);
  clock.now += sessionLifetimeMs;
  assert.equal(users.sessionPrincipal(a.id), undefined, 'expired');

  const b = await login();
  users.logout(b.id);
  assert.equal(users.sessionPrincipal(b.id), undefined, 'logged out');

  const c = await login();
  const changed = await users.setPassword('alice');
  assert.equal(users.sessionPrincipal(c.id), undefined, 'a new password ends the sessions');
  await assert.rejects(login(), code('UNAUTHENTICATED'));
  const d = await users.login('alice', changed.password!, '10.0.0.1');

  users.delete('alice');
  assert.equal(users.sessionPrincipal(d.id), undefined, 'gone with its user');
  assert.throws(() => users.delete('alice'), code('NOT_FOUND'));
  await assert.rejects(users.setPassword('alice', 'whatever-pw'), code('NOT_FOUND'));
});

test('the database keeps no password, session id or token in clear', async (t) => {
  const { store, users, tokens } = setup(t);
  await users.add({ name: 'alice', password: 'right-password' });
  const { id } = await users.login('alice', 'right-password', '10.0.0.1');
  const { token } = tokens.add({ name: 'ci' }, { root: true });
  const dump = JSON.stringify([...['users', 'sessions', 'tokens'].flatMap((table) => store.db.prepare(`SELECT * FROM ${table}`).all())]);
  for (const secret of ['right-password', id, token]) assert.ok(!dump.includes(secret), `${secret} is in the database`);
});
