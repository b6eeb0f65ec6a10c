/**
 * Hostile images: a corpus of tarballs (and a disk and an ISO) that try to write outside
 * the image or fill the disk, built here byte by byte. Each is refused with its message,
 * a canary directory outside the image stays empty, a root-only host file is never linked,
 * and no image row, directory or upload is left. The confined unpacker is also fed the
 * hostile tarballs with the checks bypassed, and still writes nothing outside. lodged's
 * state directory is a small tmpfs, so the caps that depend on free space are reached
 * with little data.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { extractTarball } from '../../src/images/import.js';
import { TestDaemon } from './harness.js';

const d = new TestDaemon();
const canary = path.join(d.dir, 'canary');
const secretDir = path.join(d.dir, 'secret');
const secret = path.join(secretDir, 'shadow');
const tmpfsBytes = 64 * 2 ** 20;

before(async () => {
  mkdirSync(canary);
  mkdirSync(secretDir, { mode: 0o700 });
  writeFileSync(secret, 'root-only\n', { mode: 0o600 });
  mkdirSync(d.stateDir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${tmpfsBytes}`, 'lodge-hostile', d.stateDir]);
  await d.start();
});
after(() => d.cleanup());

interface RawEntry {
  name: string;
  /** ustar type flag: 0 file, 1 hard link, 2 symlink, 3 char device, 5 directory, 6 FIFO. */
  type?: string;
  link?: string;
  data?: Buffer | string;
  /** The size the header claims, when it is not the data's. */
  claims?: number;
  mode?: number;
  /** A pax header before the entry (for names ustar cannot hold). */
  pax?: Record<string, string>;
}

function octal(header: Buffer, at: number, width: number, value: number): void {
  header.write(`${value.toString(8).padStart(width - 1, '0')}\0`, at, width, 'latin1');
}

function block(name: string, type: string, size: number, link = '', mode = 0o644): Buffer {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, 100, 'latin1');
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  if (size < 8 ** 11) octal(h, 124, 12, size);
  else {
    // base-256, as GNU tar writes sizes of 8 GiB and more
    h[124] = 0x80;
    h.writeBigUInt64BE(BigInt(size), 124 + 4);
  }
  octal(h, 136, 12, 0);
  h.write(type, 156, 1, 'latin1');
  h.write(link.slice(0, 100), 157, 100, 'latin1');
  h.write('ustar\0' + '00', 257, 8, 'latin1');
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return h;
}

const padded = (data: Buffer) => Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);

/** A tarball written by hand, so that it can say what no tar tool would write. */
function rawTar(entries: RawEntry[], end = true): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.pax) {
      const records = Object.entries(e.pax).map(([k, v]) => {
        const body = ` ${k}=${v}\n`;
        let len = Buffer.byteLength(body) + 1;
        while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
        return `${len}${body}`;
      });
      const data = Buffer.from(records.join(''));
      parts.push(block('PaxHeader', 'x', data.length), padded(data));
    }
    const data = Buffer.from(e.data ?? '');
    parts.push(block(e.name, e.type ?? '0', e.claims ?? data.length, e.link, e.mode), padded(data));
  }
  if (end) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function write(name: string, content: Buffer): string {
  const file = path.join(d.dir, name);
  writeFileSync(file, content);
  return file;
}

/** Nothing outside the image was touched, and nothing of a refused import is left. */
async function assertNothingWritten(kept: string[] = []): Promise<void> {
  assert.deepEqual(readdirSync(canary), [], 'the canary directory is empty');
  assert.equal(statSync(secret).nlink, 1, 'the root-only file has no second name');
  assert.deepEqual((await d.client.images.list()).map((i) => i.name).sort(), kept, 'no image row');
  assert.deepEqual(readdirSync(path.join(d.stateDir, 'images')).sort(), kept.map((n) => n.replaceAll('_', '__').replace('/', '_')).sort(), 'no image directory');
  assert.deepEqual(readdirSync(path.join(d.stateDir, 'tmp')), [], 'no upload left');
}

const ok = { name: 'bin/ok', data: 'fine' };

/** A failed import's message, without the step the CLI names after it. */
function refusal(args: string[]): string {
  const r = d.lodge(['image', 'import', ...args]);
  assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
  return r.stderr.trimEnd().replace(/ \(at step: [^)]*\)$/, '');
}

/** The tarball corpus: each one with the message that must refuse it. */
const corpus: Array<[string, () => Buffer, RegExp]> = [
  ['abs-symlink-then-entry.tar', () => rawTar([ok, { name: 'etc', type: '2', link: canary }, { name: 'etc/x', data: 'escaped' }]), /^lodge: the tarball reaches outside its root: entry etc\/x is under the symbolic link etc that an earlier entry made$/],
  [
    'symlink-chain.tar',
    () => rawTar([{ name: 'l2', type: '2', link: canary }, { name: 'l1', type: '2', link: 'l2' }, { name: 'l1/x', data: 'escaped' }]),
    /^lodge: the tarball reaches outside its root: entry l1\/x is under the symbolic link l1 that an earlier entry made$/,
  ],
  [
    'relative-symlink-then-entry.tar',
    () => rawTar([{ name: 'a/', type: '5', mode: 0o755 }, { name: 'a/up', type: '2', link: '..' }, { name: 'a/up/x', data: 'x' }]),
    /^lodge: the tarball reaches outside its root: entry a\/up\/x is under the symbolic link a\/up that an earlier entry made$/,
  ],
  ['relative-symlink-out.tar', () => rawTar([{ name: 'etc', type: '2', link: `../../../../../../../..${canary}` }, { name: 'etc/x', data: 'x' }]), /^lodge: the tarball reaches outside its root: symbolic link etc to \.\.\/.* outside the root$/],
  [
    'hardlink-through-symlink.tar',
    () => rawTar([{ name: 's', type: '2', link: secretDir }, { name: 'stolen', type: '1', link: 's/shadow' }]),
    /^lodge: the tarball reaches outside its root: hard link stolen to s\/shadow passes through the symbolic link s$/,
  ],
  ['hardlink-absolute.tar', () => rawTar([ok, { name: 'stolen', type: '1', link: secret }]), new RegExp(`^lodge: the tarball reaches outside its root: hard link stolen to ${secret} outside the root$`)],
  ['dotdot.tar', () => rawTar([ok, { name: '../../canary/x', data: 'x' }]), /^lodge: the tarball reaches outside its root: path with "\.\." \.\.\/\.\.\/canary\/x$/],
  ['absolute.tar', () => rawTar([ok, { name: `${canary}/x`, data: 'x' }]), /^lodge: the tarball reaches outside its root: absolute path \/.*\/canary\/x$/],
  ['nul-name.tar', () => rawTar([ok, { name: 'placeholder', pax: { path: 'bin/a\0b' }, data: 'x' }]), /^lodge: the tarball is refused: name "bin\/a\\u0000b" contains a NUL byte$/],
  ['long-name.tar', () => rawTar([ok, { name: 'placeholder', pax: { path: 'd/'.repeat(2100) + 'f' }, data: 'x' }]), /^lodge: the tarball is refused: name "(d\/)+\.\.\." is longer than 4095 bytes$/],
  ['long-component.tar', () => rawTar([ok, { name: 'placeholder', pax: { path: `d/${'n'.repeat(300)}` }, data: 'x' }]), /^lodge: the tarball is refused: name "d\/n+\.\.\." has a component longer than 255 bytes$/],
  // the body is never sent: the checker must stop at the header
  ['entry-bomb.tar.gz', () => gzipSync(rawTar([ok, { name: 'bomb', claims: 17 * 2 ** 30, data: Buffer.alloc(4096) }], false)), /^lodge: the tarball is refused: entry bomb is 18253611008 bytes, over the 16 GiB cap of one entry$/],
  [
    'total-bomb.tar.gz',
    () => gzipSync(rawTar(Array.from({ length: 80 }, (_, i) => ({ name: `f${i}`, data: Buffer.alloc(2 ** 20) })))),
    /^lodge: the tarball is refused: the entries up to f\d+ hold \d+ bytes, over the [\d.]+ MiB cap of a whole tarball \(the smaller of 256 GiB and 90% of the free space\)$/,
  ],
];

test('every hostile tarball is refused with its message, and nothing is written outside', async () => {
  for (const [name, make, message] of corpus) {
    assert.match(refusal([write(name, make()), 'hostile']), message, name);
    await assertNothingWritten();
  }
});

test('a truncated tarball, a qcow2 with a backing file and a truncated ISO are refused', async () => {
  const good = rawTar([ok, { name: 'bin/big', data: Buffer.alloc(8192, 1) }]);
  assert.match(refusal(['--type', 'tar', write('truncated.tar', good.subarray(0, 2048)), 'hostile']), /^lodge: the tarball cannot be read: .*Truncated input/);
  const qcow2 = path.join(d.dir, 'backed.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', secret, qcow2, '1M']);
  assert.equal(refusal([qcow2, 'hostile']), `lodge: the qcow2 image has a backing file (${secret}): flatten it first with qemu-img convert -O qcow2`);
  // an ISO 9660 volume descriptor that claims 2000 sectors of 2048 bytes, in a file of 36 KiB
  const iso = Buffer.alloc(18 * 2048);
  const pvd = 16 * 2048;
  iso[pvd] = 1;
  iso.write('CD001', pvd + 1, 'latin1');
  iso.writeUInt32LE(2000, pvd + 80);
  iso.writeUInt16LE(2048, pvd + 128);
  assert.equal(refusal([write('truncated.iso', iso), 'hostile']), `lodge: truncated ISO: its volume descriptor says ${2000 * 2048} bytes, the file has ${iso.length}`);
  await assertNothingWritten();
});

test('device nodes and FIFOs are left out, and the import succeeds', async () => {
  const tarball = rawTar([ok, { name: 'dev/', type: '5', mode: 0o755 }, { name: 'dev/sda', type: '4' }, { name: 'dev/null', type: '3', mode: 0o666 }, { name: 'dev/initctl', type: '6' }]);
  const r = d.lodge(['image', 'import', write('devices.tar', tarball), 'devices', '--init', '/bin/ok']);
  assert.equal(r.code, 0, r.stderr);
  const rootfs = path.join(d.stateDir, 'images/devices/rootfs');
  assert.deepEqual(readdirSync(path.join(rootfs, 'dev')), []);
  assert.equal(readFileSync(path.join(rootfs, 'bin/ok'), 'utf8'), 'fine');
  await d.client.images.delete('devices');
  await assertNothingWritten();
});

test('the confined unpacker alone, fed hostile tarballs without the checks, writes nothing outside the image', async () => {
  const helper = fileURLToPath(new URL('../../shim/lodge-unpack', import.meta.url));
  const tarballs = [
    rawTar([{ name: 'stolen', type: '1', link: secret }]),
    rawTar([{ name: 'etc', type: '2', link: canary }, { name: 'etc/x', data: 'escaped' }]),
    rawTar([{ name: `../../../../../../..${canary}/dotdot`, data: 'x' }, { name: `${canary}/absolute`, data: 'x' }]),
    rawTar([{ name: 's', type: '2', link: secretDir }, { name: 'stolen', type: '1', link: 's/shadow' }]),
    rawTar([{ name: 'null', type: '3', mode: 0o666 }]),
  ];
  for (const [i, hostile] of tarballs.entries()) {
    const rootfs = path.join(d.dir, `unchecked-${i}`);
    mkdirSync(rootfs);
    // a harmless first entry proves that the unpacker ran; whether it fails afterwards or not, it cannot reach the host
    const tarball = Buffer.concat([rawTar([{ name: 'witness', data: 'w' }], false), hostile]);
    await extractTarball(write(`unchecked-${i}.tar`, tarball), rootfs, { helper, busybox: '/bin/busybox' }).catch(() => {});
    assert.ok(existsSync(path.join(rootfs, 'witness')), `tarball ${i}: the unpacker ran`);
    assert.deepEqual(readdirSync(canary), [], `tarball ${i}: the canary directory is empty`);
    assert.equal(statSync(secret).nlink, 1, `tarball ${i}: the root-only file has no second name`);
    assert.equal(existsSync(path.join(rootfs, 'null')), false, `tarball ${i}: no device node`);
  }
});

test("a tarball's ./ entry does not make the image's root directory writable by others", async () => {
  const imported = d.lodge(['image', 'import', write('open-root.tar', rawTar([{ name: './', type: '5', mode: 0o777 }, ok])), 'openroot', '--init', '/bin/ok']);
  assert.equal(imported.code, 0, imported.stderr);
  const top = statSync(path.join(d.stateDir, 'images/openroot/rootfs'));
  assert.equal(top.mode & 0o7777, 0o755);
  assert.equal(top.uid, 0);
  assert.equal(d.lodge(['image', 'delete', 'openroot']).code, 0);
});

test('x_y and x/y are two images with two directories', async () => {
  const import1 = (name: string) => {
    const r = d.lodge(['image', 'import', write('owner.tar', rawTar([ok, { name: 'owner', data: name }])), name, '--init', '/bin/ok']);
    assert.equal(r.code, 0, r.stderr);
  };
  import1('x/y');
  import1('x_y');
  const owner = (name: string) => readFileSync(path.join(d.stateDir, 'images', name.replaceAll('_', '__').replace('/', '_'), 'rootfs/owner'), 'utf8');
  assert.equal(owner('x/y'), 'x/y');
  assert.equal(owner('x_y'), 'x_y');
  await d.client.images.delete('x_y');
  assert.equal(owner('x/y'), 'x/y');
  assert.deepEqual((await d.client.images.list()).map((i) => i.name), ['x/y']);
  await d.client.images.delete('x/y');
  await assertNothingWritten();
});

/** Sends `bytes` of zeros as an upload (with or without a Content-Length that says `declared`) and returns the answer. */
function upload(bytes: number, declared?: number): Promise<{ status: number; message: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream' };
    if (declared !== undefined) headers['content-length'] = declared;
    let answered = false;
    const req = http.request({ socketPath: d.socket, method: 'POST', path: '/1.0/images/import?name=hostile', headers }, (res) => {
      answered = true;
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, message: (JSON.parse(text) as { error: { message: string } }).error.message }));
    });
    // the answer may come while the body is still going out: the connection then closes under it
    req.on('error', (e: NodeJS.ErrnoException) => (['EPIPE', 'ECONNRESET'].includes(e.code ?? '') ? undefined : reject(e)));
    req.on('close', () => answered || reject(new Error('lodged closed the connection without an answer')));
    const chunk = Buffer.alloc(2 ** 20);
    let sent = 0;
    const more = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', more);
      }
      req.end();
    };
    more();
  });
}

test('an upload larger than the free space it needs is refused, and leaves nothing', { timeout: 60_000 }, async () => {
  const declared = await upload(0, 10 ** 13);
  assert.equal(declared.status, 400);
  assert.match(declared.message, /^the upload is 10000000000000 bytes, more than the \d+ bytes it may take \(90% of the free space of lodged's state directory\)$/);
  const streamed = await upload(tmpfsBytes + 2 ** 20);
  assert.equal(streamed.status, 400);
  assert.match(streamed.message, /^the upload passed the \d+ bytes it may take \(90% of the free space of lodged's state directory\)$/);
  await assertNothingWritten();
  // lodged still answers
  assert.deepEqual(await d.client.images.list(), []);
});
