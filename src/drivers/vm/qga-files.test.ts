import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { LodgeError } from '../../api/errors.js';
import { chunkBytes, pullFile, pushFile, type FilesContext } from './qga-files.js';
import { Qga, QgaError } from './qga.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-qga-files-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

type Request = { execute: string; arguments?: Record<string, unknown> };

/**
 * An agent that does what qemu-ga does, on this host's files (guest-exec runs the command
 * here), unless `hostile` gives another answer for a request.
 */
async function fakeAgent(name: string, hostile: (r: Request) => unknown = () => undefined): Promise<{ path: string; close: () => void }> {
  const file = path.join(dir, name);
  const execs = new Map<number, ReturnType<typeof spawnSync>>();
  const files = new Map<number, number>();
  let next = 1;
  const answer = (r: Request): unknown => {
    const a = r.arguments ?? {};
    switch (r.execute) {
      case 'guest-exec': {
        execs.set(next, spawnSync(a.path as string, a.arg as string[]));
        return { pid: next++ };
      }
      case 'guest-exec-status': {
        const done = execs.get(a.pid as number)!;
        return { exited: true, exitcode: done.status, 'out-data': done.stdout.toString('base64'), 'err-data': done.stderr.toString('base64') };
      }
      case 'guest-file-open':
        files.set(next, openSync(a.path as string, a.mode === 'r' ? 'r' : 'w'));
        return next++;
      case 'guest-file-read': {
        const buf = Buffer.alloc(a.count as number);
        const n = readSync(files.get(a.handle as number)!, buf);
        return { count: n, 'buf-b64': buf.toString('base64', 0, n), eof: n < buf.length };
      }
      case 'guest-file-write': {
        const buf = Buffer.from(a['buf-b64'] as string, 'base64');
        return { count: writeSync(files.get(a.handle as number)!, buf), eof: false };
      }
      case 'guest-file-close':
        closeSync(files.get(a.handle as number)!);
        files.delete(a.handle as number);
        return {};
    }
    throw new Error(`the fake agent has no ${r.execute}`);
  };
  const server = net.createServer((c) => {
    let buffer = Buffer.alloc(0);
    c.on('data', (d: Buffer) => {
      buffer = Buffer.concat([buffer, d]);
      buffer = buffer.subarray(buffer.lastIndexOf(0xff) + 1);
      for (let nl; (nl = buffer.indexOf(0x0a)) >= 0; buffer = buffer.subarray(nl + 1)) {
        const r = JSON.parse(buffer.subarray(0, nl).toString()) as Request;
        if (r.execute === 'guest-sync-delimited') c.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(`{"return": ${r.arguments!.id}}\n`)]));
        else c.write(`${JSON.stringify({ return: hostile(r) ?? answer(r) })}\n`);
      }
    });
    c.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(file, r));
  return { path: file, close: () => server.close() };
}

async function withAgent(name: string, hostile: ((r: Request) => unknown) | undefined, use: (c: FilesContext) => Promise<void>): Promise<void> {
  const agent = await fakeAgent(name, hostile);
  const qga = await Qga.connect(agent.path, 2000);
  try {
    await use({ qga, name: 'g', what: 'cannot copy', times: { answerMs: 5000, runMs: 10_000 } });
  } finally {
    qga.close();
    agent.close();
  }
}

const bytes = Buffer.from(Array.from({ length: 5 * chunkBytes + 123 }, (_, i) => i % 256));
const uid = process.getuid!();
const gid = process.getgid!();

test('a push writes every byte in chunks beside the path and renames it over; a pull reads it back whole', async () => {
  const root = mkdtempSync(path.join(dir, 'ok-'));
  const source = path.join(root, 'source');
  writeFileSync(source, bytes);
  await withAgent('ok.sock', undefined, async (c) => {
    const target = path.join(root, 'sub/file');
    const pushed = await pushFile(c, { path: target, source, mode: 0o640, uid, gid, parents: true });
    assert.deepEqual(pushed, { mode: 0o640, uid, gid, sizeBytes: bytes.length });
    assert.ok(readFileSync(target).equals(bytes));
    assert.deepEqual(readdirSync(path.dirname(target)), ['file']);
    const dest = path.join(root, 'pulled');
    assert.deepEqual(await pullFile(c, target, dest, bytes.length), { mode: 0o640, uid, gid, sizeBytes: bytes.length });
    assert.ok(readFileSync(dest).equals(bytes));
    assert.equal(statSync(dest).mode & 0o777, 0o600);
    await assert.rejects(pullFile(c, path.join(root, 'sub'), path.join(root, 'never'), 100), (e: LodgeError) => e.code === 'BAD_REQUEST' && /\/sub is a directory$/.test(e.message));
    assert.equal(existsSync(path.join(root, 'never')), false);
  });
});

test("the agent's chunks are the guest's: more than asked, a wrong count or no base64 fails the pull, a file that grows past the cap too, and nothing is left", async () => {
  const root = mkdtempSync(path.join(dir, 'hostile-'));
  const file = path.join(root, 'f');
  writeFileSync(file, 'small');
  const reads: Array<[string, (r: Request) => unknown, RegExp]> = [
    ['more.sock', (r) => (r.execute === 'guest-file-read' ? { count: chunkBytes + 3, 'buf-b64': Buffer.alloc(chunkBytes + 3).toString('base64'), eof: true } : undefined), /more than was asked/],
    ['count.sock', (r) => (r.execute === 'guest-file-read' ? { count: 9, 'buf-b64': Buffer.from('abc').toString('base64'), eof: true } : undefined), /not what it counted/],
    ['b64.sock', (r) => (r.execute === 'guest-file-read' ? { count: 3, 'buf-b64': '{"x"}', eof: true } : undefined), /sent no base64/],
    // a file that never ends
    ['endless.sock', (r) => (r.execute === 'guest-file-read' ? { count: 4, 'buf-b64': Buffer.from('more').toString('base64'), eof: false } : undefined), /cannot copy: .*\/f is over 100 bytes, more than lodged takes/],
  ];
  for (const [name, hostile, why] of reads) {
    await withAgent(name, hostile, async (c) => {
      const dest = path.join(root, `dest-${name}`);
      await assert.rejects(pullFile(c, file, dest, 100), (e: Error) => (e instanceof QgaError || e instanceof LodgeError) && why.test(e.message));
      assert.equal(existsSync(dest), false, `${name}: no partial file`);
    });
  }
  // a write the agent says it did only in part: the new file goes, what was at the path stays
  await withAgent('short.sock', (r) => (r.execute === 'guest-file-write' ? { count: 1, eof: false } : undefined), async (c) => {
    const source = path.join(root, 'source');
    writeFileSync(source, 'new content');
    await assert.rejects(pushFile(c, { path: file, source, mode: 0o644, uid, gid, parents: false }), /wrote 1 of 11 bytes/);
    assert.equal(readFileSync(file, 'utf8'), 'small');
    assert.deepEqual(readdirSync(root).filter((f) => f.includes('lodge-push')), []);
  });
});
