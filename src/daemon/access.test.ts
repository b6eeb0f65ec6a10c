/**
 * Who may do what: the role each route needs, and the hook that asks it of HTTPS requests
 * (sessions and tokens from a real store), while unix-socket requests are root's.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyRequest } from 'fastify';
import { LodgeError } from '../api/errors.js';
import { sessionCookie } from '../api/users.js';
import { authServices } from '../core/auth.test-support.js';
import { authorize, bearerToken, cookieValue, routeAccess, sameOrigin, viaHttps, type Access } from './access.js';

test('reads are a viewer\'s; writes, WebSockets, guest files (live or backed up), exports and the users an admin\'s; a route may declare its own', () => {
  const cases: Array<[Parameters<typeof routeAccess>[0], Access]> = [
    [{ method: 'GET', url: '/1.0/guests' }, 'viewer'],
    [{ method: ['GET', 'HEAD'], url: '/1.0/operations/:id' }, 'viewer'],
    [{ method: 'HEAD', url: '/1.0/guests' }, 'viewer'],
    [{ method: 'POST', url: '/1.0/guests' }, 'admin'],
    [{ method: 'DELETE', url: '/1.0/guests/:name' }, 'admin'],
    [{ method: ['GET', 'POST'], url: '/1.0/x' }, 'admin'],
    [{ method: 'GET', url: '/1.0/guests/:name/console', wsHandler: () => {} }, 'admin'],
    [{ method: 'GET', url: '/1.0/x', websocket: true }, 'admin'],
    [{ method: 'GET', url: '/1.0/guests/:name/files' }, 'admin'],
    [{ method: 'GET', url: '/1.0/guests/:name/export' }, 'admin'],
    [{ method: 'GET', url: '/1.0/backup-stores/:store/backups/:guest/:id/files' }, 'admin'],
    [{ method: 'GET', url: '/1.0/backup-stores/:store/backups/:guest/:id' }, 'viewer'],
    [{ method: 'GET', url: '/1.0/users' }, 'admin'],
    [{ method: 'GET', url: '/1.0/tokens' }, 'admin'],
    [{ method: 'POST', url: '/1.0/login', config: { access: 'anyone' } }, 'anyone'],
  ];
  for (const [route, access] of cases) assert.equal(routeAccess(route), access, `${String(route.method)} ${route.url}`);
});

test('cookies, bearer tokens and origins are read as browsers and clients send them', () => {
  assert.equal(cookieValue(`a=1; ${sessionCookie}=abc=; b=2`, sessionCookie), 'abc=');
  assert.equal(cookieValue('lodge-session=abc', sessionCookie), undefined);
  assert.equal(cookieValue(undefined, sessionCookie), undefined);
  assert.equal(bearerToken('Bearer lodge_abc'), 'lodge_abc');
  assert.equal(bearerToken('bearer  lodge_abc '), 'lodge_abc');
  assert.equal(bearerToken('Basic YWxhZGRpbjpvcGVu'), undefined);
  assert.equal(sameOrigin(undefined, '10.0.0.1:8443'), true, 'no Origin: not a browser');
  assert.equal(sameOrigin('https://10.0.0.1:8443', '10.0.0.1:8443'), true);
  assert.equal(sameOrigin('https://LODGE.example:8443', 'lodge.example:8443'), true);
  assert.equal(sameOrigin('http://10.0.0.1:8443', '10.0.0.1:8443'), false);
  assert.equal(sameOrigin('https://evil.example', '10.0.0.1:8443'), false);
  assert.equal(sameOrigin('null', '10.0.0.1:8443'), false);
});

function setup(t: TestContext) {
  const { users, tokens } = authServices(t);
  return { users, tokens, hook: authorize({ users, tokens }) };
}

/** The parts of a Fastify request the hook reads. */
function request(options: { https?: boolean; method?: string; url?: string; access?: Access; headers?: Record<string, string> }): FastifyRequest {
  return {
    raw: options.https === false ? {} : { [viaHttps]: true },
    method: options.method ?? 'GET',
    headers: { host: '127.0.0.1:8443', ...options.headers },
    routeOptions: { url: options.url ?? '/1.0/guests', config: options.access ? { access: options.access } : {} },
  } as unknown as FastifyRequest;
}

const refusedWith = (code: string, message?: RegExp) => (e: unknown) => e instanceof LodgeError && e.code === code && (!message || message.test(e.message));

test('the unix socket is root; HTTPS without a session or token is refused, whatever the route', async (t) => {
  const { hook } = setup(t);
  const local = request({ https: false, method: 'DELETE', access: 'admin' });
  await hook(local);
  assert.deepEqual(local.principal, { root: true });
  await assert.rejects(hook(request({})), refusedWith('UNAUTHENTICATED', /session cookie .* or Authorization: Bearer/));
  await assert.rejects(hook(request({ url: '/1.0/no-such' })), refusedWith('UNAUTHENTICATED'));
  await assert.rejects(hook(request({ headers: { authorization: 'Bearer lodge_made-up' } })), refusedWith('UNAUTHENTICATED', /token is not valid/));
  await assert.rejects(hook(request({ headers: { cookie: `${sessionCookie}=made-up` } })), refusedWith('UNAUTHENTICATED', /log in again/));
  const login = request({ method: 'POST', url: '/1.0/login', access: 'anyone' });
  await hook(login);
  assert.equal(login.principal, undefined);
});

test("a viewer reads but does not write; an admin does both; a session counts as its user's", async (t) => {
  const { users, tokens, hook } = setup(t);
  await users.add({ name: 'bob', role: 'viewer', password: 'bobs-password' });
  const viewer = { authorization: `Bearer ${tokens.add({ name: 'ro', user: 'bob' }, { root: true }).token}` };
  const admin = { authorization: `Bearer ${tokens.add({ name: 'rw' }, { root: true }).token}` };
  const read = request({ headers: viewer, access: 'viewer' });
  await hook(read);
  assert.deepEqual(read.principal, { role: 'viewer', token: 'ro', user: 'bob' });
  await assert.rejects(hook(request({ method: 'POST', headers: viewer, access: 'admin' })), refusedWith('FORBIDDEN', /token ro is a viewer: POST \/1\.0\/guests needs the admin role/));
  await assert.rejects(hook(request({ headers: { ...viewer, connection: 'upgrade', upgrade: 'websocket' }, url: '/1.0/guests/:name/console', access: 'admin' })), refusedWith('FORBIDDEN', /a WebSocket to/));
  await hook(request({ method: 'POST', headers: admin, access: 'admin' }));
  const { id } = await users.login('bob', 'bobs-password', '10.0.0.1');
  const bySession = request({ headers: { cookie: `${sessionCookie}=${id}` }, access: 'viewer' });
  await hook(bySession);
  assert.deepEqual(bySession.principal, { role: 'viewer', user: 'bob' });
});

test('a write or a WebSocket upgrade from another origin is refused, even with valid credentials; a read is not', async (t) => {
  const { tokens, hook } = setup(t);
  const admin = `Bearer ${tokens.add({ name: 'rw' }, { root: true }).token}`;
  const foreign = { authorization: admin, origin: 'https://evil.example' };
  await assert.rejects(hook(request({ method: 'POST', headers: foreign, access: 'admin' })), refusedWith('FORBIDDEN', /a POST from another origin \(https:\/\/evil\.example\)/));
  await assert.rejects(hook(request({ headers: { ...foreign, connection: 'upgrade', upgrade: 'websocket' }, access: 'admin' })), refusedWith('FORBIDDEN', /a WebSocket from another origin/));
  await assert.rejects(hook(request({ method: 'POST', url: '/1.0/login', headers: { origin: 'https://evil.example' }, access: 'anyone' })), refusedWith('FORBIDDEN'), 'no login from another site either');
  await hook(request({ headers: foreign, access: 'viewer' }));
  await hook(request({ method: 'POST', headers: { authorization: admin, origin: 'https://127.0.0.1:8443' }, access: 'admin' }));
});
