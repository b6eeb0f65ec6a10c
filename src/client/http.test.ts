import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Transport } from './http.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lodge-client-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A server on a unix socket; `handle` gets each request and how many came before it on the same connection. */
async function serve(name: string, handle: (req: http.IncomingMessage, res: http.ServerResponse, nth: number) => void): Promise<{ socket: string; close: () => void }> {
  const socket = path.join(dir, name);
  const seen = new WeakMap<object, number>();
  const server = http.createServer((req, res) => {
    const nth = seen.get(req.socket) ?? 0;
    seen.set(req.socket, nth + 1);
    handle(req, res, nth);
  });
  await new Promise<void>((r) => server.listen(socket, r));
  return { socket, close: () => server.close() };
}

test('a GET on a kept-alive connection that the server dropped is sent again on a fresh one', async () => {
  // the server drops every connection at its second request, as a keep-alive timeout racing the request does
  const s = await serve('drop.sock', (req, res, nth) => (nth > 0 ? req.socket.destroy() : res.end('{"n":1}')));
  try {
    const t = new Transport(s.socket);
    assert.deepEqual(await t.request('GET', '/'), { n: 1 });
    assert.deepEqual(await t.request('GET', '/'), { n: 1 });
  } finally {
    s.close();
  }
});

test('a POST is never sent on a reused connection, so a dropped one cannot make it look unreachable', async () => {
  const s = await serve('post.sock', (req, res, nth) => (nth > 0 ? req.socket.destroy() : res.end('{}')));
  try {
    const t = new Transport(s.socket);
    await t.request('GET', '/');
    assert.deepEqual(await t.request('POST', '/', { body: { a: 1 } }), {});
    assert.deepEqual(await t.request('POST', '/', { body: { a: 2 } }), {});
  } finally {
    s.close();
  }
});

test('a dead socket is still reported as unreachable, with the hint', async () => {
  await assert.rejects(new Transport(path.join(dir, 'none.sock')).request('GET', '/'), /cannot reach lodged at .*none\.sock: is lodged running\?/);
});
