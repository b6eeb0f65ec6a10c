/**
 * No client frame or request kills lodged: hostile frames on the interactive exec and
 * console WebSockets end that connection with a registered error, and a few hundred
 * requests generated from docs/openapi.json (wrong types, bad names, huge and deep
 * bodies, wrong methods and content types, raw garbage) are each answered with a 4xx of
 * the registered shape, in time, by a lodged that stays up and creates nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { runFuzz, fuzzTargets } from '../fuzz/run.js';
import { TestDaemon } from './harness.js';

const d = new TestDaemon();
before(async () => {
  await d.start();
  await d.buildBusybox();
  await d.launch('c1');
});
after(() => d.cleanup());

interface Closed {
  code: number;
  reason: string;
  texts: string[];
  binary: string;
  /** The HTTP status when the upgrade itself was refused. */
  refusedWith?: number;
}

/**
 * Opens a WebSocket, sends `frames` once open (and `later` once the output shows `prompt`),
 * and resolves when it closes (or was refused).
 */
function exchange(url: string, frames: Array<string | Buffer>, timeoutMs = 20_000, later?: { prompt: RegExp; frames: Array<string | Buffer> }): Promise<Closed> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 0 });
    const seen: Closed = { code: 0, reason: '', texts: [], binary: '' };
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`${url}: not closed after ${timeoutMs} ms; saw ${JSON.stringify(seen)}`));
    }, timeoutMs);
    ws.on('open', () => {
      for (const f of frames) ws.send(f, { binary: Buffer.isBuffer(f) });
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return seen.texts.push(data.toString());
      seen.binary += data.toString();
      if (later && later.prompt.test(seen.binary)) {
        for (const f of later.frames) ws.send(f, { binary: Buffer.isBuffer(f) });
        later = undefined;
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ ...seen, refusedWith: res.statusCode, texts: [body] }));
    });
    ws.on('error', () => {}); // a refused upgrade or a reset shows in close or unexpected-response
    ws.on('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ ...seen, code, reason: reason.toString() });
    });
  });
}

const errorCodeOf = (text: string | undefined) => (JSON.parse(text ?? '{}') as { error?: { code?: string } }).error?.code;

test('a bad frame on the interactive exec WebSocket ends that connection with a registered error, not lodged', async () => {
  const url = d.client.guests.execUrl('c1', { command: ['sh'] });
  const frames = ['not json', '{"resize":[-1,-1]}', '{"resize":[0,0]}', '{"resize":[100000,5]}', '{"resize":[1.5,2]}', '{"resize":"80x24"}', '{"resize":[80]}', '{"other":1}', 'null', '[]', `${'['.repeat(100_000)}${']'.repeat(100_000)}`, '{"resize":[80,24],"x":1}'];
  for (const frame of frames) {
    const closed = await exchange(url, [frame]);
    assert.equal(closed.code, 4400, `${frame.slice(0, 30)}: closed with ${closed.code} ${closed.reason}`);
    assert.equal(errorCodeOf(closed.texts.find((t) => t.includes('"error"'))), 'BAD_REQUEST', frame.slice(0, 30));
    assert.ok((await d.client.host()).instance, 'lodged answers');
  }
});

test('a frame over the size limit ends that connection only; a good resize still works', async () => {
  for (const url of [d.client.guests.execUrl('c1', { command: ['sh'] }), d.client.guests.consoleUrl('c1')]) {
    const closed = await exchange(url, [Buffer.alloc(2 << 20, 0x61)]);
    assert.ok([1009, 4400].includes(closed.code), `${url}: closed with ${closed.code} ${closed.reason}`);
    assert.ok((await d.client.host()).instance, 'lodged answers');
  }
  const ok = await exchange(d.client.guests.execUrl('c1', { command: ['sh'] }), ['{"resize":[100,40]}'], 20_000, { prompt: /# /, frames: [Buffer.from('stty size; exit 3\n')] });
  assert.deepEqual(ok.texts, ['{"exit":3}'], `exit frame, closed ${ok.code} ${ok.reason}`);
  assert.match(ok.binary, /40 100/);
});

test('terminal sizes out of range in the exec query are refused before anything runs', async () => {
  for (const q of ['cols=0', 'cols=100000', 'rows=-1', 'rows=abc', 'cols=1e400']) {
    const closed = await exchange(`${d.client.guests.execUrl('c1', { command: ['sh'] })}&${q}`, []);
    const status = closed.refusedWith ?? closed.code - 4000;
    assert.equal(status, 400, `${q}: ${JSON.stringify(closed)}`);
    assert.equal(errorCodeOf(closed.texts[0]), 'BAD_REQUEST', q);
  }
});

test('hundreds of hostile requests from the OpenAPI document: each a registered 4xx, in time; nothing created; lodged alive', async () => {
  const snapshot = async () => ({
    guests: (await d.client.guests.list()).map((g) => `${g.name}:${g.state}`),
    images: (await d.client.images.list()).map((i) => i.name),
    networks: (await d.client.networks.list()).map((n) => n.name),
    operations: (await d.client.operations.list()).length,
  });
  const before = await snapshot();
  const pid = d.pid;
  const seed = Number(process.env.LODGE_FUZZ_SEED ?? 12);
  const counts = await runFuzz(d, { count: 400, seed, targets: await fuzzTargets(d, 'c1'), timeoutMs: 15_000 });
  assert.deepEqual(counts.failures.slice(0, 20), [], `seed ${seed}: ${counts.failures.length} of ${counts.requests} answers were wrong; by status ${JSON.stringify(counts.byStatus)}`);
  assert.equal(counts.serverErrors, 0);
  assert.equal(counts.hangs, 0);
  assert.equal(counts.deaths, 0);
  assert.equal(d.pid, pid, 'the same lodged answers');
  assert.ok((await d.client.host()).instance);
  assert.deepEqual(await snapshot(), before, 'nothing was created, changed or deleted');
  assert.doesNotMatch(d.stderr, /uncaught|internal error|\n\s+at /i, 'lodged logged no crash or internal error');
});

test('a WebSocket to an endpoint that is none, or to a guest that does not exist, is closed with a registered error', async () => {
  const at = (path: string) => `ws+unix://${d.socket}:${path}`;
  for (const [path, code, status] of [['/1.0/guests', 'BAD_REQUEST', 400], ['/1.0/events', 'BAD_REQUEST', 400], ['/1.0/guests/ghost/console', 'NOT_FOUND', 404], ['/1.0/nothing', 'NOT_FOUND', 404]] as const) {
    const closed = await exchange(at(path), []);
    assert.equal(closed.refusedWith ?? closed.code - 4000, status, `${path}: ${JSON.stringify(closed)}`);
    assert.equal(errorCodeOf(closed.texts[0]), code, path);
  }
});

test('a client that stops reading a guest\'s output costs lodged a bounded amount of memory', async () => {
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${d.pid}/status`, 'utf8'))![1]) * 1024;
  const ws = new WebSocket(d.client.guests.execUrl('c1', { command: ['yes', 'a line of output that the client never reads'] }));
  ws.on('error', () => {});
  await once(ws, 'open');
  ws.pause(); // reads nothing more: what the guest writes waits somewhere
  await sleep(1000);
  const before = rss();
  await sleep(8000);
  const grown = rss() - before;
  ws.terminate();
  assert.ok(grown < 64 << 20, `lodged grew by ${Math.round(grown / (1 << 20))} MiB in 8 s for a client that does not read`);
  assert.ok((await d.client.host()).instance, 'lodged answers');
});

test('a client that floods a command that does not read its input costs lodged a bounded amount of memory', async () => {
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${d.pid}/status`, 'utf8'))![1]) * 1024;
  const ws = new WebSocket(d.client.guests.execUrl('c1', { command: ['sleep', '60'] }));
  ws.on('error', () => {});
  await once(ws, 'open');
  const before = rss();
  const frame = Buffer.alloc(1 << 20, 0x61);
  for (let i = 0; i < 200 && ws.readyState === ws.OPEN; i++) ws.send(frame, { binary: true });
  await sleep(8000);
  const grown = rss() - before;
  ws.terminate();
  assert.ok(grown < 64 << 20, `lodged grew by ${Math.round(grown / (1 << 20))} MiB holding input that the command does not read`);
  assert.ok((await d.client.host()).instance, 'lodged answers');
});

test('the longest legal image name reaches its route (a 404 that names it), a longer one is refused as too long', async () => {
  const name = `${'a'.repeat(63)}/${'b'.repeat(63)}`;
  await assert.rejects(d.client.images.get(name), (e: Error) => e.message === `image ${name} not found`);
  const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ socketPath: d.socket, path: `/1.0/images/${'a'.repeat(300)}` }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.deepEqual({ status: r.status, code: errorCodeOf(r.body) }, { status: 400, code: 'BAD_REQUEST' });
});
