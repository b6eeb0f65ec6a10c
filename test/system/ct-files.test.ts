/**
 * Files in containers, what only a container has: a stopped guest takes and gives files
 * (its overlay and volumes mounted for the copy alone), ids cross an unprivileged guest's
 * map both ways, and no link the guest made leads lodged out of its root.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { LodgeError } from '../../src/api/errors.js';
import { TestDaemon } from './harness.js';

const d = new TestDaemon();
const local = mkdtempSync(path.join(tmpdir(), 'lodge-t-files-'));
before(async () => {
  await d.start();
  await d.buildBusybox();
});
after(async () => {
  rmSync(local, { recursive: true, force: true });
  await d.cleanup();
});

const run = (name: string, script: string) => d.client.guests.exec(name, { command: ['sh', '-c', script] }).then((r) => r.stdout);
const refused = (code: string, message: RegExp) => (e: unknown) => e instanceof LodgeError && e.code === code && message.test(e.message);
const state = (name: string, action: 'start' | 'stop') => d.client.guests.changeState(name, { action, ...(action === 'stop' ? { force: true } : {}) }).then((op) => d.done(op));
const push = (name: string, guestPath: string, content: string, extra: { mode?: string; uid?: number; gid?: number; parents?: boolean } = {}) =>
  d.client.guests.pushFile(name, { path: guestPath, ...extra }, Readable.from([Buffer.from(content)]));

test("a stopped container takes files into its root and its volumes, with the guest's ids, and gives them back", async () => {
  await d.launch('f1', { networks: [], start: false });
  await d.client.volumes.create({ name: 'fdata', size: '64M' });
  await d.client.volumes.attach('f1', { volume: 'fdata', path: '/srv/data' });
  const pushed = await push('f1', '/etc/app/conf', 'setting=1\n', { mode: '0640', uid: 1000, gid: 100, parents: true });
  assert.deepEqual(pushed, { path: '/etc/app/conf', mode: '0640', uid: 1000, gid: 100, sizeBytes: 10 });
  await push('f1', '/srv/data/on-volume', 'on the volume\n');
  // the CLI: a local file's mode by default, a pull into a directory by its name
  writeFileSync(path.join(local, 'tool'), '#!/bin/sh\necho tool ran\n', { mode: 0o755 });
  const cli = d.lodge(['file', 'push', 'f1', path.join(local, 'tool'), '/usr/local/bin/', '-p']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stderr, /^pushed \/usr\/local\/bin\/tool into f1: 24B, mode 0755, owner 0:0$/m);
  await state('f1', 'start');
  assert.equal(await run('f1', 'stat -c "%a %u %g" /etc/app/conf /etc/app && cat /etc/app/conf /srv/data/on-volume && tool'), '640 1000 100\n755 0 0\nsetting=1\non the volume\ntool ran\n');
  // running: the guest's own view, its volume's mount included
  await run('f1', 'echo from-guest > /srv/data/back && chown 33:33 /srv/data/back && chmod 600 /srv/data/back');
  const pulled = d.lodge(['file', 'pull', 'f1', '/srv/data/back', local, '--format', 'json']);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.deepEqual(JSON.parse(pulled.stdout), { path: '/srv/data/back', mode: '0600', uid: 33, gid: 33, sizeBytes: 11, local: path.join(local, 'back') });
  assert.equal(readFileSync(path.join(local, 'back'), 'utf8'), 'from-guest\n');
  await state('f1', 'stop');
  const stdout = d.lodge(['file', 'pull', 'f1', '/etc/app/conf', '-']);
  assert.deepEqual({ code: stdout.code, out: stdout.stdout }, { code: 0, out: 'setting=1\n' });
  assert.deepEqual(d.mounts().filter((m) => !m.endsWith('/custom/fdata/host/mnt')), [], 'the copies mounted nothing on the host but its volume, as a start does');
});

test("no link of the guest's leads a copy out of its root; what is not a regular file is refused by name", async () => {
  await d.launch('f2', { networks: [] });
  const outside = path.join(local, 'outside');
  writeFileSync(outside, 'host secret\n');
  await run('f2', `ln -s / /escape && ln -s ${outside} /link && mkdir -p /d && mkfifo /fifo`);
  // /escape/... resolves to the guest's own /, where the host's file is not
  await assert.rejects(d.client.guests.pullFile('f2', `/escape${outside}`, devNull()), refused('NOT_FOUND', /No such file or directory/));
  await assert.rejects(d.client.guests.pullFile('f2', '/link', devNull()), refused('NOT_FOUND', /No such file or directory/));
  await push('f2', `/escape${local}/planted`, 'x', { parents: true });
  assert.equal(existsSync(path.join(local, 'planted')), false, 'nothing was written on the host');
  assert.equal(await run('f2', `cat ${local}/planted`), 'x');
  // a push replaces, never writes through: a link at the path is refused, the host's file untouched
  await assert.rejects(push('f2', '/link', 'overwritten'), refused('BAD_REQUEST', /\/link is a symbolic link/));
  assert.equal(readFileSync(outside, 'utf8'), 'host secret\n');
  await assert.rejects(d.client.guests.pullFile('f2', '/fifo', devNull()), refused('BAD_REQUEST', /\/fifo is a FIFO/));
  await assert.rejects(d.client.guests.pullFile('f2', '/d', devNull()), refused('BAD_REQUEST', /\/d is a directory/));
  await assert.rejects(push('f2', '/no/such/dir/f', 'x'), refused('NOT_FOUND', /\/no\/such\/dir: No such file or directory \(--parents makes it\)/));
  await assert.rejects(push('f2', '/f', 'x', { uid: 70000 }), refused('BAD_REQUEST', /uid: 70000 is outside the guest's ids \(0 to 65535\)/));
  await assert.rejects(push('f2', 'relative', 'x'), refused('BAD_REQUEST', /query parameter path: "relative" is not valid/));
  await assert.rejects(push('f2', '/f', 'x', { mode: '999' }), refused('BAD_REQUEST', /query parameter mode/));
  // a filesystem the guest mounted itself, where the host's root has no id: files are made as the guest's root
  await run('f2', 'mkdir -p /scratch && mount -t tmpfs -o size=1m tmpfs /scratch');
  assert.deepEqual(await push('f2', '/scratch/in-tmpfs', 'x', { mode: '0600', uid: 5, gid: 5 }), { path: '/scratch/in-tmpfs', mode: '0600', uid: 5, gid: 5, sizeBytes: 1 });
  assert.equal(await run('f2', 'stat -c "%a %u %g" /scratch/in-tmpfs'), '600 5 5\n');
  // a push that fills the guest's disk fails, and leaves no part of itself there
  await assert.rejects(push('f2', '/scratch/big', 'y'.repeat(2 << 20)), refused('BAD_REQUEST', /cannot push \/scratch\/big into f2: writing \/scratch\/big: No space left on device/));
  assert.equal(await run('f2', 'ls -a /scratch'), '.\n..\nin-tmpfs\n');
  // a guest's /proc/N/root is a magic link: it leads nowhere, even to the guest's own root
  await assert.rejects(d.client.guests.pullFile('f2', '/proc/1/root/etc/hostname', devNull()), refused('BAD_REQUEST', /\/proc\/1\/root\/etc\/hostname: Too many levels of symbolic links/));
  const missing = d.lodge(['file', 'pull', 'f2', '/nope', path.join(local, 'nope')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot pull \/nope from f2: \/nope: No such file or directory/);
  assert.deepEqual(readdirSync(local).filter((f) => f.includes('nope')), [], 'a failed pull leaves no file');
});

function devNull(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}
