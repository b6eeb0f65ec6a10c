/**
 * lodge file push|pull, the same cases in guests of every kind: a ct through lodge-files in
 * its root, a pv through its agent, a vm through its guest agent (lodge-ga in the busybox
 * image). Mode, owner and parents as asked; what the guest wrote comes back with its mode
 * and owner; every byte value crosses unchanged over many chunks; what cannot be had is
 * refused with one message in every kind; a stopped pv or vm guest is refused with its
 * driver's reason. (What only containers have: ct-files.test.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { LodgeError } from '../../src/api/errors.js';
import type { GuestFile } from '../../src/api/files.js';
import { guestPid, requireProgram, TestDaemon } from './harness.js';

const kinds = ['ct', 'pv', 'vm'] as const;
type Kind = (typeof kinds)[number];

const d = new TestDaemon();
before(async () => {
  requireProgram('/usr/bin/qemu-system-x86_64', 'qemu-system-x86');
  await d.start();
  await d.buildBusybox();
  // side by side: the vm boots under TCG while the others are tested
  await Promise.all(kinds.map((kind) => d.launch(kind, { kind, networks: [] })));
});
after(() => d.cleanup());

/** A shell command's stdout; a vm's agent is waited for while the guest boots (15-30 s under TCG). */
async function run(name: string, script: string): Promise<string> {
  for (const end = Date.now() + 90_000; ; await sleep(1000)) {
    try {
      return (await d.client.guests.exec(name, { command: ['sh', '-c', script] })).stdout;
    } catch (e) {
      if (!(e instanceof LodgeError && e.code === 'UNAVAILABLE') || Date.now() > end) throw e;
    }
  }
}

const push = (name: string, guestPath: string, content: string | Buffer, extra: { mode?: string; uid?: number; gid?: number; parents?: boolean } = {}) =>
  d.client.guests.pushFile(name, { path: guestPath, ...extra }, Readable.from([Buffer.from(content)]));

async function pull(name: string, guestPath: string): Promise<{ info: GuestFile; bytes: Buffer }> {
  const chunks: Buffer[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (chunks.push(chunk), done()) });
  const info = await d.client.guests.pullFile(name, guestPath, sink);
  return { info, bytes: Buffer.concat(chunks) };
}

const refused = (code: string, message: RegExp | string) => (e: unknown) =>
  e instanceof LodgeError && e.code === code && (typeof message === 'string' ? e.message === message : message.test(e.message));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const cases: Array<[string, (name: Kind) => Promise<void>]> = [
  [
    "a push lands with the mode, owner and parents asked for, replaces a file whole, and keeps the replaced file's mode and owner unless told",
    async (name) => {
      await run(name, 'true');
      const pushed = await push(name, '/srv/app/conf', 'setting=1\n', { mode: '0640', uid: 1000, gid: 100, parents: true });
      assert.deepEqual(pushed, { path: '/srv/app/conf', mode: '0640', uid: 1000, gid: 100, sizeBytes: 10 });
      assert.equal(await run(name, "stat -c '%a %u %g' /srv/app/conf /srv/app && cat /srv/app/conf"), '640 1000 100\n755 0 0\nsetting=1\n');
      // a secret pushed again stays as private as it was
      assert.deepEqual(await push(name, '/srv/app/conf', 'setting=2\n'), { path: '/srv/app/conf', mode: '0640', uid: 1000, gid: 100, sizeBytes: 10 });
      assert.deepEqual(await push(name, '/srv/app/conf', 'setting=3\n', { mode: '4755', uid: 0, gid: 0 }), { path: '/srv/app/conf', mode: '4755', uid: 0, gid: 0, sizeBytes: 10 });
      assert.equal(await run(name, "stat -c '%a %u %g' /srv/app/conf && cat /srv/app/conf && ls -a /srv/app"), '4755 0 0\nsetting=3\n.\n..\nconf\n', 'replaced, nothing left beside it');
      assert.deepEqual(await push(name, '/srv/app/new', 'x'), { path: '/srv/app/new', mode: '0644', uid: 0, gid: 0, sizeBytes: 1 }, 'a new file is 0644 and root\'s');
    },
  ],
  [
    'a pull gives what the guest wrote, with its mode and owner',
    async (name) => {
      await run(name, 'echo from the guest > /tmp/back && chown 33:44 /tmp/back && chmod 600 /tmp/back && ln -sf back /tmp/link');
      const back = await pull(name, '/tmp/back');
      assert.deepEqual(back.info, { path: '/tmp/back', mode: '0600', uid: 33, gid: 44, sizeBytes: 15 });
      assert.equal(back.bytes.toString(), 'from the guest\n');
      assert.equal((await pull(name, '/tmp/link')).bytes.toString(), 'from the guest\n', "a link resolves as the guest's own");
    },
  ],
  [
    'every byte value crosses unchanged, over many chunks, both ways',
    async (name) => {
      // 300 KiB: six and a quarter of the vm's 48 KiB chunks
      const bytes = Buffer.from(Array.from({ length: 300 * 1024 }, (_, i) => i % 256));
      assert.equal((await push(name, '/tmp/binary', bytes)).sizeBytes, bytes.length);
      assert.equal(await run(name, 'sha256sum /tmp/binary'), `${sha256(bytes)}  /tmp/binary\n`);
      await run(name, 'cat /tmp/binary /tmp/binary > /tmp/binary2');
      const back = await pull(name, '/tmp/binary2');
      assert.equal(back.info.sizeBytes, 2 * bytes.length);
      assert.ok(back.bytes.equals(Buffer.concat([bytes, bytes])), 'the bytes the guest holds, exactly');
    },
  ],
  [
    'what cannot be had is refused by name, with one message in every kind, and nothing is left behind',
    async (name) => {
      await run(name, 'mkfifo /tmp/fifo && ln -sf /tmp/back /tmp/link');
      await assert.rejects(pull(name, '/nope'), refused('NOT_FOUND', `cannot pull /nope from ${name}: /nope: No such file or directory`));
      await assert.rejects(pull(name, '/etc'), refused('BAD_REQUEST', `cannot pull /etc from ${name}: /etc is a directory`));
      await assert.rejects(pull(name, '/tmp/fifo'), refused('BAD_REQUEST', `cannot pull /tmp/fifo from ${name}: /tmp/fifo is a FIFO`));
      await assert.rejects(push(name, '/etc', 'x'), refused('BAD_REQUEST', `cannot push /etc into ${name}: /etc is a directory`));
      await assert.rejects(push(name, '/tmp/link', 'x'), refused('BAD_REQUEST', `cannot push /tmp/link into ${name}: /tmp/link is a symbolic link`));
      await assert.rejects(push(name, '/no/such/dir/f', 'x'), refused('NOT_FOUND', `cannot push /no/such/dir/f into ${name}: /no/such/dir: No such file or directory (--parents makes it)`));
      assert.equal(await run(name, 'cat /tmp/back; ls -a / /etc /tmp | grep -c lodge-push'), 'from the guest\n0\n');
      if (name === 'pv') {
        // the exchange holds nothing of the copies: neither a push's bytes nor a pull's
        const umlDir = readFileSync(`/proc/${await guestPid(d, name)}/cmdline`, 'utf8').split('\0').find((a) => a.startsWith('uml_dir='))!.slice(8);
        const agent = path.join(path.dirname(umlDir), 'agent');
        assert.deepEqual([...readdirSync(path.join(agent, 'requests')), ...readdirSync(path.join(agent, 'responses'))], []);
      }
    },
  ],
  [
    "a stopped guest: a container's root takes and gives files, a pv or vm guest's disk is its kernel's alone",
    async (name) => {
      await d.done(await d.client.guests.changeState(name, { action: 'stop', force: true }));
      if (name === 'ct') {
        await push(name, '/tmp/while-stopped', 'kept\n');
        assert.equal((await pull(name, '/tmp/while-stopped')).bytes.toString(), 'kept\n');
        return;
      }
      const why = (await d.client.host()).drivers.find((k) => k.kind === name)!.lacks.filesStopped;
      assert.ok(why, `${name} says why`);
      const message = `pushing or pulling files while a guest is stopped is not available in ${name} guests: ${why}`;
      await assert.rejects(push(name, '/tmp/f', 'x'), refused('UNSUPPORTED', message));
      await assert.rejects(pull(name, '/tmp/back'), refused('UNSUPPORTED', message));
    },
  ],
];

for (const kind of kinds) {
  for (const [what, check] of cases) test(`${kind}: ${what}`, { timeout: 150_000 }, () => check(kind));
}
