/**
 * The exec link's protocol against a scripted agent on a unix socket: what lodge-execd
 * sends, and what a hostile guest could send instead. (The real agent runs in vm-exec.test.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { encodeFrame, exitCode, FrameReader, guestFrame, hostFrame, hostMagic, magic, openPayload, u32, windowBytes } from './exec-frames.js';
import { ExecLink } from './exec-link.js';

test('frames are found after the magic, whatever an earlier connection left before it', () => {
  const reader = new FrameReader();
  assert.deepEqual(reader.push(Buffer.from('stale half frame')), []);
  const frames = reader.push(Buffer.concat([magic, encodeFrame(guestFrame.stdout, 7, Buffer.from('hi')), encodeFrame(guestFrame.exit, 7, u32(3 << 8)).subarray(0, 5)]));
  assert.deepEqual(frames.map((f) => [f.type, f.channel, f.payload.toString()]), [[guestFrame.stdout, 7, 'hi']]);
  const rest = reader.push(encodeFrame(guestFrame.exit, 7, u32(3 << 8)).subarray(5));
  assert.equal(exitCode(rest[0]!.payload.readUInt32BE(0)), 3);
  assert.equal(exitCode(9), 137, 'killed by signal 9');
});

test('a frame of a type the host does not take, or longer than the agent writes, is refused', () => {
  assert.throws(() => new FrameReader().push(Buffer.concat([magic, encodeFrame(hostFrame.open, 1)])), /unknown type 1/);
  const long = Buffer.alloc(9);
  long[0] = guestFrame.stdout;
  long.writeUInt32BE(1 << 30, 5);
  assert.throws(() => new FrameReader().push(Buffer.concat([magic, long])), /frame of 1073741824 bytes/);
});

test('an open carries argv, env and the working directory, and refuses a NUL inside one', () => {
  const p = openPayload(['sh', '-c', 'true'], ['A=1'], '/etc');
  assert.deepEqual([p.readUInt16BE(1), p.readUInt16BE(3)], [3, 1]);
  assert.equal(p.subarray(5).toString(), 'sh\0-c\0true\0A=1\0/etc\0');
  assert.throws(() => openPayload(['a\0b'], [], ''), /NUL/);
  assert.throws(() => openPayload(['sh', '-c', 'x'.repeat(70_000)], [], ''), /take 70\d\d\d bytes, more than the 64 KiB/);
});

/** A scripted agent: answers the magic, then hands each host frame to `onFrame`. */
async function withAgent(onFrame: (type: number, channel: number, payload: Buffer, reply: (b: Buffer) => void) => void, use: (link: ExecLink) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lodge-exec-link-'));
  const socket = path.join(dir, 'exec.sock');
  const server = net.createServer((c) => {
    let buf = Buffer.alloc(0);
    let synced = false;
    c.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!synced) {
        const at = buf.indexOf(hostMagic);
        if (at < 0) return;
        buf = buf.subarray(at + hostMagic.length);
        synced = true;
        c.write(Buffer.concat([Buffer.from('junk of before'), magic]));
      }
      while (buf.length >= 9 && buf.length >= 9 + buf.readUInt32BE(5)) {
        const n = buf.readUInt32BE(5);
        onFrame(buf[0]!, buf.readUInt32BE(1), buf.subarray(9, 9 + n), (b) => c.write(b));
        buf = buf.subarray(9 + n);
      }
    });
    c.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(socket, r));
  const link = await ExecLink.connect(socket, 2000);
  try {
    await use(link);
  } finally {
    link.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const read = async (s: NodeJS.ReadableStream) => {
  let text = '';
  for await (const chunk of s) text += chunk.toString();
  return text;
};

test('output flows in windows: the agent is told to send more only as the reader takes it', async () => {
  const acks: number[] = [];
  await withAgent(
    (type, ch, payload, reply) => {
      if (type === hostFrame.open) {
        // a whole window at once, then the exit
        for (let i = 0; i < windowBytes / 65536; i++) reply(encodeFrame(guestFrame.stdout, ch, Buffer.alloc(65536, 'x')));
        reply(encodeFrame(guestFrame.stderr, ch, Buffer.alloc(0)));
        reply(encodeFrame(guestFrame.exit, ch, u32(0)));
      }
      if (type === hostFrame.ack) acks.push(payload.readUInt32BE(0));
    },
    async (link) => {
      const p = link.open('vm1', { command: ['cat'] });
      p.stdin.end();
      const [out, code] = await Promise.all([read(p.stdout), p.exit]);
      assert.equal(out.length, windowBytes);
      assert.equal(code, 0);
      assert.ok(acks.reduce((a, b) => a + b, 0) <= windowBytes);
    },
  );
});

test('output past the window, a failure to start, and a broken link each end as they should', async () => {
  await withAgent(
    (type, ch, _payload, reply) => {
      if (type !== hostFrame.open) return;
      if (ch === 1) {
        const failure = Buffer.concat([Buffer.from([0]), u32(2), Buffer.from('No such file or directory')]);
        return reply(encodeFrame(guestFrame.failed, ch, failure));
      }
      // a hostile agent: more than the window, unasked
      for (let i = 0; i < windowBytes / 65536 + 1; i++) reply(encodeFrame(guestFrame.stdout, ch, Buffer.alloc(65536)));
    },
    async (link) => {
      const missing = link.open('vm1', { command: ['nosuch'] });
      const [stderr, code] = await Promise.all([read(missing.stderr), missing.exit]);
      assert.deepEqual([code, stderr], [127, 'lodge: nosuch: command not found in vm1\n']);
      const flood = link.open('vm1', { command: ['yes'] });
      flood.stdout.pause();
      await assert.rejects(flood.exit, /exec in vm1: the exec agent sent 65536 bytes of output past its window/);
      assert.ok(link.ended);
      assert.throws(() => link.open('vm1', { command: ['true'] }), /past its window/);
    },
  );
});

test('stdin is sent only as far as the command has taken it, and ends with STDIN_END', async () => {
  let received = 0;
  let ended = false;
  let channel = 0;
  let replyTo: (b: Buffer) => void = () => {};
  await withAgent(
    (type, ch, payload, reply) => {
      if (type === hostFrame.open) [channel, replyTo] = [ch, reply];
      if (type === hostFrame.stdin) received += payload.length;
      if (type === hostFrame.stdinEnd) {
        ended = true;
        reply(encodeFrame(guestFrame.exit, ch, u32(0)));
      }
    },
    async (link) => {
      const p = link.open('vm1', { command: ['cat'] });
      p.stdin.end(Buffer.alloc(windowBytes * 3));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(received, windowBytes, 'one window, then it waits');
      replyTo(encodeFrame(guestFrame.ack, channel, u32(windowBytes * 2)));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(received, windowBytes * 2, 'an acknowledgement past the window gives at most a window');
      replyTo(encodeFrame(guestFrame.ack, channel, u32(windowBytes)));
      assert.equal(await p.exit, 0);
      assert.deepEqual([received, ended], [windowBytes * 3, true]);
    },
  );
});
