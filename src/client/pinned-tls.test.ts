/**
 * Pinning against a real TLS server with a self-signed certificate made by openssl: the
 * pinned certificate is trusted without an authority, another one is refused before the
 * request (and its token) is written.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transport } from './http.js';
import { CertificateChanged, normalFingerprint, peerFingerprint } from './pinned-tls.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lodge-pin-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function certificate(name: string): { cert: string; key: string; fingerprint: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  const pem = readFileSync(cert, 'utf8');
  return { cert: pem, key: readFileSync(key, 'utf8'), fingerprint: new X509Certificate(pem).fingerprint256 };
}

/** A server that answers the bearer token it was sent, and counts the requests that reached it. */
async function serve(c: { cert: string; key: string }) {
  const seen = { requests: 0 };
  const server = https.createServer({ cert: c.cert, key: c.key }, (req, res) => {
    seen.requests++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ authorization: req.headers.authorization }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => server.close());
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, port: (server.address() as AddressInfo).port, seen };
}

const a = certificate('a');
const b = certificate('b');

test('fingerprints are compared in one form, whatever the case and separators typed', () => {
  assert.equal(normalFingerprint(a.fingerprint.toLowerCase().replaceAll(':', '')), a.fingerprint);
  assert.equal(normalFingerprint(a.fingerprint.replaceAll(':', ' ')), a.fingerprint);
});

test('the first look at a server reads its fingerprint without trusting it', async () => {
  const s = await serve(a);
  assert.equal(await peerFingerprint('127.0.0.1', s.port), a.fingerprint);
  assert.equal(s.seen.requests, 0);
});

test('with its certificate pinned, a self-signed server is reached and given the token', async () => {
  const s = await serve(a);
  const t = new Transport({ url: s.url, token: 'lodge_secret', fingerprint: a.fingerprint });
  assert.deepEqual(await t.request('GET', '/1.0'), { authorization: 'Bearer lodge_secret' });
  assert.deepEqual(await t.request('POST', '/1.0/x', { body: {} }), { authorization: 'Bearer lodge_secret' });
  assert.equal(s.seen.requests, 2);
});

test('another certificate is refused, saying so, and no request reaches the server', async () => {
  const s = await serve(b);
  const t = new Transport({ url: s.url, token: 'lodge_secret', fingerprint: a.fingerprint });
  for (const method of ['GET', 'POST']) {
    await assert.rejects(t.request(method, '/1.0', method === 'POST' ? { body: {} } : {}), (e: unknown) => {
      assert.ok(e instanceof CertificateChanged, String(e));
      assert.match(e.message, new RegExp(`certificate of ${s.url} has changed: pinned ${a.fingerprint}, offered ${b.fingerprint}\\. Nothing was sent`));
      return true;
    });
  }
  assert.equal(s.seen.requests, 0);
});
