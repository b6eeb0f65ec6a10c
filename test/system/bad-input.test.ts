/**
 * Bad input gets a clear error and loses nothing: unknown images, missing fields and broken
 * JSON, escaping tarballs, duplicates, wrong states. (Invalid names, unknown fields and
 * malformed limits, for a launch of every kind: conformance.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { TestDaemon } from './harness.js';

const d = new TestDaemon();
before(async () => {
  await d.start();
  await d.buildBusybox();
});
after(() => d.cleanup());

/** A raw request, to send what the typed client would never send. */
function raw(method: string, url: string, body?: string, contentType = 'application/json'): Promise<{ status: number; body: { error?: { code: string; message: string } } }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: d.socket, method, path: url, headers: body === undefined ? {} : { 'content-type': contentType } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : {} }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function assertNothingLeft(): void {
  assert.deepEqual(d.runtimeContainers(), [], 'no runtime container');
  assert.deepEqual(d.mounts(), [], 'no mount');
  assert.deepEqual(d.cgroups(), [], 'no cgroup');
  const guestsDir = path.join(d.stateDir, 'guests');
  assert.deepEqual(existsSync(guestsDir) ? readdirSync(guestsDir) : [], [], 'no guest directory');
  assert.deepEqual(d.rootVolumes(), [], 'no root volume');
}

test('an unknown image is a 404 that says what to do', async () => {
  const r = await raw('POST', '/1.0/guests', JSON.stringify({ name: 'x1', image: 'nosuch' }));
  assert.equal(r.status, 404);
  assert.match(r.body.error!.message, /image nosuch not found: lodge image list shows what there is, lodge image list --available what Lodge builds \(lodge image build NAME\)/);
  assert.equal(d.lodge(['info', 'ghost']).stderr, 'lodge: guest ghost not found\n');
  assert.equal((await raw('GET', '/1.0/guests/ghost')).status, 404);
  assertNothingLeft();
});

test('missing fields, wrong types and broken JSON are refused', async () => {
  const missing = await raw('POST', '/1.0/guests', JSON.stringify({ name: 'x3' }));
  assert.equal(missing.body.error!.message, 'image: is required');
  const kind = await raw('POST', '/1.0/guests', JSON.stringify({ name: 'x3', image: 'busybox', kind: 'lxc' }));
  assert.equal(kind.body.error!.message, 'kind: must be one of ct, vm, pv');
  const broken = await raw('POST', '/1.0/guests', '{"name": ');
  assert.equal(broken.status, 400);
  assert.equal(broken.body.error!.code, 'BAD_REQUEST');
  const action = await raw('PUT', '/1.0/guests/x3/state', JSON.stringify({ action: 'explode' }));
  assert.equal(action.body.error!.message, 'action: must be one of start, stop, restart, pause, resume');
  assert.equal((await raw('GET', '/1.0/nothing-here')).status, 404);
  assertNothingLeft();
});

test('a duplicate name is a conflict and leaves the first guest alone', async () => {
  await d.launch('dup');
  const r = await raw('POST', '/1.0/guests', JSON.stringify({ name: 'dup', image: 'busybox' }));
  assert.equal(r.status, 409);
  assert.equal(r.body.error!.message, 'a guest named dup exists already');
  assert.equal((await d.client.guests.get('dup')).state, 'running');
  assert.equal((await d.client.guests.exec('dup', { command: ['true'] })).exitCode, 0);
});

test('an action in the wrong state is a conflict', async () => {
  const r = await raw('PUT', '/1.0/guests/dup/state', JSON.stringify({ action: 'resume' }));
  assert.equal(r.status, 409);
  assert.equal(r.body.error!.message, 'cannot resume dup: it is running (resume needs paused)');
  assert.equal(d.lodge(['start', 'dup']).stderr, 'lodge: cannot start dup: it is running (start needs stopped or error)\n');
  await d.done(await d.client.guests.delete('dup', true));
  assertNothingLeft();
});

test('a tarball that reaches outside its root is refused whole, and leaves no image', async () => {
  const dir = d.dir;
  // python's tarfile writes the hostile entries that tar tools refuse to make
  const make = (file: string, member: string, link?: string) =>
    execFileSync('python3', ['-c', `
import tarfile, io, sys
t = tarfile.open(sys.argv[1], 'w')
ok = tarfile.TarInfo('bin/ok'); data = b'fine'; ok.size = len(data); t.addfile(ok, io.BytesIO(data))
bad = tarfile.TarInfo(sys.argv[2])
if len(sys.argv) > 3: bad.type = tarfile.SYMTYPE; bad.linkname = sys.argv[3]
else: bad.size = 4
t.addfile(bad, None if len(sys.argv) > 3 else io.BytesIO(b'evil'))
t.close()`, file, member, ...(link ? [link] : [])]);
  const cases: Array<[string, string, string | undefined, RegExp]> = [
    ['dotdot.tar', '../escape', undefined, /path with "\.\." \.\.\/escape/],
    ['absolute.tar', '/etc/evil', undefined, /absolute path \/etc\/evil/],
    ['symlink.tar', 'etc/link', '../../../etc/shadow', /symbolic link etc\/link to \.\.\/\.\.\/\.\.\/etc\/shadow outside the root/],
  ];
  for (const [file, member, link, message] of cases) {
    make(path.join(dir, file), member, link);
    const r = d.lodge(['image', 'import', path.join(dir, file), 'hostile']);
    assert.equal(r.code, 1, file);
    assert.match(r.stderr, /^lodge: the tarball reaches outside its root: /);
    assert.match(r.stderr, message);
  }
  writeFileSync(path.join(dir, 'garbage.tar'), 'this is not a tarball at all'.repeat(40));
  const garbage = d.lodge(['image', 'import', path.join(dir, 'garbage.tar'), 'hostile']);
  assert.equal(garbage.code, 1);
  assert.match(garbage.stderr, /lodge: not a tarball, a qcow2 disk or an ISO \(import a raw disk as format raw: lodge image import --type raw\): the tarball cannot be read/);
  assert.deepEqual((await d.client.images.list()).map((i) => i.name), ['busybox']);
  assert.deepEqual(readdirSync(path.join(d.stateDir, 'images')), ['busybox']);
  assert.deepEqual(readdirSync(path.join(d.stateDir, 'tmp')), [], 'the upload is gone too');
  assert.equal(existsSync('/escape'), false);
});

test('a good tarball imports, and a guest boots from it', async () => {
  const rootfs = path.join(d.dir, 'rootfs');
  execFileSync('cp', ['-a', path.join(d.stateDir, 'images/busybox/rootfs'), rootfs]);
  execFileSync('tar', ['-C', rootfs, '-czf', path.join(d.dir, 'good.tar.gz'), '.']);
  const r = d.lodge(['image', 'import', path.join(d.dir, 'good.tar.gz'), 'mine/1', '--stop-signal', 'SIGUSR2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(d.lodge(['image', 'list']).stdout, /^mine\/1\s+rootfs\s+\S+\s+\/sbin\/init\s+imported from a tarball$/m);
  await d.done(await d.client.guests.launch({ name: 'frommine', image: 'mine/1' }));
  assert.equal((await d.client.guests.exec('frommine', { command: ['hostname'] })).stdout, 'frommine\n');
  const inUse = d.lodge(['image', 'delete', 'mine/1']);
  assert.match(inUse.stderr, /cannot delete image mine\/1: guests use it \(frommine\)/);
  await d.done(await d.client.guests.delete('frommine', true));
  assert.equal(d.lodge(['image', 'delete', 'mine/1']).code, 0);
  assertNothingLeft();
});
