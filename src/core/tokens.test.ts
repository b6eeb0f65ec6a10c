/**
 * API tokens on a real SQLite store: made with a role no greater than their user's, found
 * by their secret alone, gone when deleted or when their user is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LodgeError } from '../api/errors.js';
import { authServices } from './auth.test-support.js';

const setup = authServices;

const code = (c: string) => (e: unknown) => e instanceof LodgeError && e.code === c;

test("a token made on the unix socket has no user and is an admin's; its secret finds it, once", (t) => {
  const { tokens } = setup(t);
  const made = tokens.add({ name: 'ci' }, { root: true });
  assert.equal(made.user, undefined);
  assert.equal(made.role, 'admin');
  assert.deepEqual(tokens.principal(made.token), { role: 'admin', token: 'ci' });
  assert.equal(tokens.principal(made.token.slice(0, -1)), undefined);
  assert.deepEqual(tokens.list(), [{ name: 'ci', role: 'admin', createdAt: made.createdAt }], 'a list never holds the secret');
  assert.throws(() => tokens.add({ name: 'ci' }, { root: true }), code('CONFLICT'));
  tokens.delete('ci');
  assert.equal(tokens.principal(made.token), undefined);
  assert.throws(() => tokens.delete('ci'), code('NOT_FOUND'));
});

test("a token takes its user's role, never more, and goes with its user", async (t) => {
  const { users, tokens } = setup(t);
  await users.add({ name: 'bob', role: 'viewer', password: 'bobs-password' });
  const t1 = tokens.add({ name: 'mon', user: 'bob' }, { root: true });
  assert.equal(t1.role, 'viewer');
  assert.throws(() => tokens.add({ name: 'mon2', user: 'bob', role: 'admin' }, { root: true }), (e: unknown) => code('BAD_REQUEST')(e) && /bob is a viewer/.test((e as Error).message));
  assert.throws(() => tokens.add({ name: 'x', user: 'nobody' }, { root: true }), code('NOT_FOUND'));
  users.delete('bob');
  assert.equal(tokens.principal(t1.token), undefined);
  assert.deepEqual(tokens.list(), []);
});

test("a token made over HTTPS is its caller's unless it names another user", async (t) => {
  const { users, tokens } = setup(t);
  await users.add({ name: 'alice', password: 'alices-password' });
  await users.add({ name: 'bob', role: 'viewer', password: 'bobs-password' });
  const own = tokens.add({ name: 'laptop' }, { role: 'admin', user: 'alice' });
  assert.deepEqual([own.user, own.role], ['alice', 'admin']);
  const forBob = tokens.add({ name: 'bobs', user: 'bob' }, { role: 'admin', user: 'alice' });
  assert.deepEqual([forBob.user, forBob.role], ['bob', 'viewer']);
  const scoped = tokens.add({ name: 'ro', role: 'viewer' }, { role: 'admin', user: 'alice' });
  assert.deepEqual(tokens.principal(scoped.token), { role: 'viewer', token: 'ro', user: 'alice' });
});
