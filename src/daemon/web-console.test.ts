import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { contentSecurityPolicy, loadWebConsole } from './web-console.js';

/** A server whose requests the console answers first, the rest getting 418 (the API's stand-in). */
async function serve(dir: string, log: string[] = []): Promise<{ url: string; close: () => void }> {
  const web = await loadWebConsole(dir, (m) => log.push(m));
  const server = http.createServer((req, res) => web(req, res) || res.writeHead(418).end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

test('the console serves its page and assets, gzipped when asked, with the CSP; anything else goes on to the API', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-web-'));
  t.after(() => rmSync(dir, { recursive: true }));
  mkdirSync(path.join(dir, 'assets'));
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>Lodge</title>');
  writeFileSync(path.join(dir, 'assets', 'main.js'), 'console.log(1)');
  const { url, close } = await serve(dir);
  t.after(close);

  const page = await fetch(`${url}/`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(page.headers.get('content-security-policy'), contentSecurityPolicy);
  assert.match(contentSecurityPolicy, /script-src 'self';/);
  assert.equal(await page.text(), '<!doctype html><title>Lodge</title>');

  const raw = await new Promise<http.IncomingMessage & { body: Buffer }>((resolve) =>
    http.get(`${url}/assets/main.js`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Object.assign(res, { body: Buffer.concat(chunks) })));
    }),
  );
  assert.equal(raw.headers['content-encoding'], 'gzip');
  assert.equal(gunzipSync(raw.body).toString(), 'console.log(1)');
  const again = await fetch(`${url}/assets/main.js`, { headers: { 'if-none-match': String(raw.headers.etag) } });
  assert.equal(again.status, 304);

  for (const [method, p] of [['GET', '/1.0'], ['POST', '/'], ['GET', '/assets/nope.js'], ['GET', '/index.html']] as const) {
    assert.equal((await fetch(`${url}${p}`, { method })).status, 418, `${method} ${p}`);
  }
});

test('without a bundle the console says so in the log and serves nothing', async (t) => {
  const log: string[] = [];
  const { url, close } = await serve(path.join(os.tmpdir(), 'lodge-no-such-web'), log);
  t.after(close);
  assert.equal((await fetch(`${url}/`)).status, 418);
  assert.match(log.join('\n'), /the web console is not built .*node scripts\/bundle-web\.mjs/);
});
