/**
 * Password hashes: scrypt with a salt, its cost kept beside the hash, compared in constant time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, newPassword, newToken, nobodysHash, secretHash, verifyPassword } from './secrets.js';

test('a password verifies against its hash, another one does not, and two hashes of it differ by their salt', async () => {
  const a = await hashPassword('correct horse battery');
  const b = await hashPassword('correct horse battery');
  assert.match(a, /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.notEqual(a, b);
  assert.equal(await verifyPassword('correct horse battery', a), true);
  assert.equal(await verifyPassword('correct horse batterY', a), false);
  assert.equal(await verifyPassword('', a), false);
});

test('a hash made with another cost verifies with the cost it carries', async () => {
  const cheap = await hashPassword('pw-12345678', { ln: 10, r: 8, p: 1 });
  assert.match(cheap, /^\$scrypt\$ln=10,/);
  assert.equal(await verifyPassword('pw-12345678', cheap), true);
  assert.equal(await verifyPassword('pw-12345679', cheap), false);
});

test('the same password typed in another Unicode form is the same password', async () => {
  const composed = 'caf\u00e9-password';
  const decomposed = 'cafe\u0301-password';
  assert.equal(await verifyPassword(decomposed, await hashPassword(composed)), true);
});

test("a stored hash that is not one of Lodge's, or asks for too much, is an error rather than a no", async () => {
  await assert.rejects(verifyPassword('x', 'md5$abc'), /not in the \$scrypt\$ format/);
  await assert.rejects(verifyPassword('x', '$scrypt$ln=30,r=8,p=1$AAAA$AAAA'), /cost out of bounds \(ln=30/);
});

test('the hash of nobody matches no password a client would try', async () => {
  for (const p of ['', 'admin', 'password', newPassword()]) assert.equal(await verifyPassword(p, nobodysHash), false);
});

test('made secrets are long, distinct, and stored only as their SHA-256', () => {
  const t = newToken();
  assert.match(t, /^lodge_[A-Za-z0-9_-]{43}$/);
  assert.notEqual(newToken(), t);
  assert.match(newPassword(), /^[A-Za-z0-9_-]{24}$/);
  assert.equal(secretHash(t), secretHash(t));
  assert.match(secretHash(t), /^[0-9a-f]{64}$/);
  assert.ok(!secretHash(t).includes(t.slice(6, 16)));
});
