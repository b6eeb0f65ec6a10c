/**
 * The API over the network: a private lodged listening on loopback (a free port), its
 * certificate self-signed at its first start. Logins are refused and then rate-limited; a
 * viewer reads but does not write; a token drives the CLI from "another machine" (--remote,
 * the fingerprint pinned) until the certificate changes; WebSocket upgrades need a login and
 * this origin; and the unix socket keeps answering root without TLS, with or without a
 * listener. One busybox ct, for a console over wss.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, statSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import WebSocket from 'ws';
import type { HostInfo } from '../../src/api/host.js';
import { LodgeClient } from '../../src/client/index.js';
import { requireProgram, TestDaemon } from './harness.js';

const d = new TestDaemon({ args: ['--listen', '127.0.0.1:0'] });
let port = 0;
/** The certificate lodged made, which the test's own HTTPS requests trust (as a browser told to would). */
let ca = '';
const tlsDir = () => path.join(d.stateDir, 'tls');

before(async () => {
  requireProgram('openssl', 'openssl');
  await d.start();
  port = (await d.client.host()).listen!.port;
  ca = readFileSync(path.join(tlsDir(), 'server.crt'), 'utf8');
});
after(() => d.cleanup());

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
}

/** One HTTPS request to the listener, the certificate checked against lodged's own. */
function call(method: string, url: string, options: { headers?: Record<string, string>; body?: unknown } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = https.request({ host: '127.0.0.1', port, method, path: url, ca, headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...options.headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text ? (JSON.parse(text) as Answer['body']) : {} }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const login = (user: string, password: string, headers: Record<string, string> = {}) => call('POST', '/1.0/login', { body: { user, password }, headers });

/** A user added over the unix socket with a password Lodge made (the CLI prints it alone on stdout). */
function addUser(name: string, role: 'admin' | 'viewer'): string {
  const r = d.lodge(['user', 'add', name, '--role', role]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

function addToken(args: string[]): string {
  const r = d.lodge(['token', 'add', ...args]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^lodge_\S+\n$/);
  return r.stdout.trim();
}

/** The CLI on "another machine": its own config, and no unix socket to fall back to. */
const away = () => ({ XDG_CONFIG_HOME: path.join(d.dir, 'elsewhere'), LODGE_SOCKET: path.join(d.dir, 'no-such.sock') });
const remoteLodge = (args: string[]) => d.lodge(args, '', away());

/** A WebSocket upgrade refused: its HTTP status and error, and whether lodged closed the connection after. */
function refusedUpgrade(url: string, headers: Record<string, string>): Promise<{ status: number; code: string; message: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ca, headers });
    ws.on('open', () => reject(new Error(`the upgrade to ${url} was accepted`)));
    ws.on('error', () => {});
    ws.on('unexpected-response', (request, response) => {
      let text = '';
      response.on('data', (c: Buffer) => (text += c.toString()));
      response.on('end', () => {
        const { code, message } = (JSON.parse(text) as { error: { code: string; message: string } }).error;
        const timer = setTimeout(() => resolve({ status: response.statusCode!, code, message, closedByServer: false }), 3000);
        const closed = () => {
          clearTimeout(timer);
          resolve({ status: response.statusCode!, code, message, closedByServer: true });
        };
        const socket = request.socket!;
        if (socket.destroyed) closed();
        else socket.once('close', closed);
      });
    });
  });
}

test('lodged --listen serves HTTPS with a certificate of its own (its key 0600), shown by lodge host; the unix socket answers root without TLS or login', async () => {
  const host = await d.client.host();
  const fingerprint = new X509Certificate(ca).fingerprint256;
  assert.deepEqual(host.listen, { address: '127.0.0.1', port, certificate: 'self-signed', fingerprint });
  assert.equal(statSync(path.join(tlsDir(), 'server.key')).mode & 0o777, 0o600);
  assert.equal(statSync(tlsDir()).mode & 0o777, 0o700);
  const shown = d.lodge(['host']);
  assert.equal(shown.code, 0, shown.stderr);
  assert.ok(shown.stdout.includes(`HTTPS: https://127.0.0.1:${port}, certificate self-signed, SHA-256 fingerprint\n  ${fingerprint}\n`), shown.stdout);
  assert.match(d.stderr, new RegExp(`serving https://127\\.0\\.0\\.1:${port} \\(certificate self-signed, SHA-256 ${fingerprint}\\)`));
  // the same endpoint over TCP needs a login; the certificate names 127.0.0.1, so a checked request gets there
  const anonymous = await call('GET', '/1.0');
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.body.error?.code, 'UNAUTHENTICATED');
});

test('a wrong password is refused, then the user is rate-limited (429, saying when), even with the right one; each failure is logged', async () => {
  const password = addUser('alice', 'admin');
  for (let i = 0; i < 5; i++) {
    const r = await login('alice', `wrong-${i}`);
    assert.equal(r.status, 401);
    assert.deepEqual(r.body.error, { code: 'UNAUTHENTICATED', message: 'wrong user name or password' });
  }
  const limited = await login('alice', password);
  assert.equal(limited.status, 429);
  assert.equal(limited.body.error?.code, 'RATE_LIMITED');
  assert.match(limited.body.error!.message, /too many failed logins for user "alice": try again in (\d+) s \(after \d{4}-/);
  const retryAfter = Number(limited.headers['retry-after']);
  assert.ok(retryAfter > 800 && retryAfter <= 900, `Retry-After: ${retryAfter}`);
  // lodged logs the refusal as it answers: its line may reach the pipe a moment after the answer
  for (const until = Date.now() + 5000; !/login refused: too many failures/.test(d.stderr) && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
  assert.equal((d.stderr.match(/login failed: user "alice" from 127\.0\.0\.1/g) ?? []).length, 5, d.stderr);
  assert.match(d.stderr, /login refused: too many failures for user "alice"/);
});

test("a viewer's session reads and is refused a write (403); the cookie is HttpOnly, Secure, SameSite=Strict; logout ends it", async () => {
  const password = addUser('bob', 'viewer');
  const r = await login('bob', password);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.role, 'viewer');
  const setCookie = String(r.headers['set-cookie']);
  assert.match(setCookie, /^__Host-lodge-session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=43200; HttpOnly; Secure; SameSite=Strict$/);
  const cookie = { cookie: setCookie.split(';')[0]! };

  const read = await call('GET', '/1.0/guests', { headers: cookie });
  assert.equal(read.status, 200);
  const write = await call('POST', '/1.0/networks', { headers: cookie, body: { name: 'nope' } });
  assert.equal(write.status, 403);
  assert.deepEqual(write.body.error, { code: 'FORBIDDEN', message: 'user bob is a viewer: POST /1.0/networks needs the admin role' });
  assert.equal((await call('GET', '/1.0/users', { headers: cookie })).status, 403, "who may log in is an admin's to read");
  assert.equal((await call('POST', '/1.0/networks', { body: { name: 'nope' } })).status, 401);

  const out = await call('POST', '/1.0/logout', { headers: cookie });
  assert.equal(out.status, 204);
  assert.match(String(out.headers['set-cookie']), /^__Host-lodge-session=; Path=\/; Max-Age=0;/);
  const ended = await call('GET', '/1.0/guests', { headers: cookie });
  assert.equal(ended.status, 401);
  assert.match(ended.body.error!.message, /session has ended/);
});

test('a token drives the CLI from another machine with --remote, the certificate pinned; a viewer token only reads', async () => {
  const token = addToken(['ci']);
  const url = `https://127.0.0.1:${port}`;
  const fingerprint = (await d.client.host()).listen!.fingerprint;
  const added = remoteLodge(['remote', 'add', 'prod', url, '--token', token]);
  assert.equal(added.code, 0, added.stderr);
  assert.ok(added.stderr.includes(`offers a certificate with the SHA-256 fingerprint\n  ${fingerprint}\n`), added.stderr);
  const file = path.join(away().XDG_CONFIG_HOME, 'lodge', 'remotes.json');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { remotes: { prod: { url, token, fingerprint } } });

  const host = remoteLodge(['--remote', 'prod', 'host', '--format', 'json']);
  assert.equal(host.code, 0, host.stderr);
  assert.equal((JSON.parse(host.stdout) as HostInfo).instance, d.instance);
  const made = remoteLodge(['--remote', 'prod', 'user', 'add', 'carol', '--role', 'viewer']);
  assert.equal(made.code, 0, made.stderr);
  const listed = d.lodge(['user', 'list', '--format', 'json'], '', { ...away(), LODGE_REMOTE: 'prod' });
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual((JSON.parse(listed.stdout) as Array<{ name: string }>).map((u) => u.name), ['alice', 'bob', 'carol']);

  assert.equal(remoteLodge(['remote', 'add', 'wrongtoken', url, '--token', 'lodge_not-a-token']).stderr.trim().split('\n').pop(), 'lodge: the bearer token is not valid (deleted, or mistyped)');
  const viewerToken = addToken(['ro', '--user', 'bob']);
  // the token piped in, kept off the command line
  const ro = d.lodge(['remote', 'add', 'ro', url, '--token-stdin', '--fingerprint', fingerprint.replaceAll(':', '').toLowerCase()], viewerToken, away());
  assert.equal(ro.code, 0, ro.stderr);
  assert.equal(remoteLodge(['--remote', 'ro', 'list']).code, 0);
  const refused = remoteLodge(['--remote', 'ro', 'user', 'add', 'dave']);
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr, 'lodge: token ro is a viewer: POST /1.0/users needs the admin role\n');
  assert.equal(remoteLodge(['--remote', 'nowhere', 'list']).stderr.split(' (')[0], `lodge: no remote named nowhere in ${file}`);
});

test('a WebSocket upgrade needs a login and this origin; an admin token reaches a console over wss', async () => {
  const consoleUrl = (name: string) => `wss://127.0.0.1:${port}/1.0/guests/${name}/console`;
  const admin = `Bearer ${addToken(['ws-admin'])}`;
  const none = await refusedUpgrade(consoleUrl('c1'), {});
  assert.deepEqual([none.status, none.code], [401, 'UNAUTHENTICATED']);
  assert.ok(none.closedByServer, 'lodged closes a refused upgrade');
  const foreign = await refusedUpgrade(consoleUrl('c1'), { authorization: admin, origin: 'https://evil.example' });
  assert.deepEqual([foreign.status, foreign.code, foreign.message], [403, 'FORBIDDEN', 'a WebSocket from another origin (https://evil.example) is refused']);
  assert.ok(foreign.closedByServer);
  const viewer = await refusedUpgrade(consoleUrl('c1'), { authorization: `Bearer ${addToken(['ws-ro', '--role', 'viewer'])}` });
  assert.deepEqual([viewer.status, viewer.code], [403, 'FORBIDDEN']);

  await d.buildBusybox();
  await d.launch('c1');
  // the typed client over HTTPS, as the CLI uses it: the token and the pinned certificate on the upgrade too
  const remote = new LodgeClient({ url: `https://127.0.0.1:${port}`, token: admin.slice('Bearer '.length), fingerprint: new X509Certificate(ca).fingerprint256 });
  const ws = new WebSocket(remote.guests.consoleUrl('c1'), { ...remote.transport.webSocketOptions(), headers: { ...remote.transport.webSocketOptions().headers, origin: `https://127.0.0.1:${port}` } });
  let seen = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the console never answered: ${JSON.stringify(seen.slice(-300))}`)), 20_000);
      let typing: NodeJS.Timeout | undefined;
      ws.on('open', () => {
        const type = () => ws.send(Buffer.from('echo over-$((6*7))-wss\n'), { binary: true });
        type();
        typing = setInterval(type, 1000);
      });
      ws.on('message', (data: Buffer) => {
        seen += data.toString();
        if (seen.includes('over-42-wss')) {
          clearTimeout(timer);
          clearInterval(typing);
          resolve();
        }
      });
      ws.on('error', reject);
    });
  } finally {
    ws.close();
  }
});

test('a changed certificate is refused by the CLI, saying so; without --listen nothing listens on TCP, and the unix socket keeps working', async () => {
  const pinned = (await d.client.host()).listen!.fingerprint;
  await d.stop();
  rmSync(tlsDir(), { recursive: true });
  d.args.splice(0, d.args.length, '--listen', `127.0.0.1:${port}`);
  await d.start();
  const changed = (await d.client.host()).listen!.fingerprint;
  assert.notEqual(changed, pinned, 'a new certificate was made');
  const r = remoteLodge(['--remote', 'prod', 'list']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `lodge: the certificate of https://127.0.0.1:${port} has changed: pinned ${pinned}, offered ${changed}. Nothing was sent. If the server's certificate was replaced on purpose (check lodge host there), remove the remote and add it again\n`);
  const again = remoteLodge(['remote', 'add', 'prod2', `https://127.0.0.1:${port}`, '--token', 'lodge_x', '--fingerprint', pinned]);
  assert.match(again.stderr, new RegExp(`offers a certificate with the fingerprint ${changed}, not ${pinned}: not added`));

  await d.stop();
  d.args.splice(0, d.args.length);
  await d.start();
  const listening = execFileSync('ss', ['-Htlnp'], { encoding: 'utf8' });
  assert.ok(!listening.includes(`pid=${d.pid},`), `lodged listens on TCP without --listen:\n${listening}`);
  assert.equal((await d.client.host()).listen, undefined);
  assert.deepEqual((await d.client.guests.list()).map((g) => g.name), ['c1']);
  const users = d.lodge(['user', 'list']);
  assert.equal(users.code, 0, users.stderr);
  assert.match(users.stdout, /^alice\s+admin/m);
});
