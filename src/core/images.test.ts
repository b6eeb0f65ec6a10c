/**
 * ImageService and the bases it makes for guests, on real files in a temporary directory
 * and a real busybox build: made once whoever asks at once, counted in the image's size;
 * after a rebuild the version before stays, with its bases, for the guests made from it,
 * and goes with the last of them; all goes with the image; what a crash left is put right
 * at start.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Derivation } from '../images/derived.js';
import { ImageFiles } from '../images/store.js';
import { Events } from './events.js';
import { ImageService } from './images.js';
import { Operations } from './operations.js';
import { Store } from './store.js';

interface Harness {
  dir: string;
  store: Store;
  files: ImageFiles;
  images: ImageService;
  operations: Operations;
}

function setup(t: TestContext): Harness {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-images-'));
  const store = new Store(path.join(dir, 'lodge.db'));
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const events = new Events();
  const operations = new Operations(store, events);
  const files = new ImageFiles(path.join(dir, 'images'));
  mkdirSync(files.dir);
  const images = new ImageService({ store, files, operations, events, kernelCacheDir: dir, busybox: '/bin/busybox', unpackHelper: '' });
  return { dir, store, files, images, operations };
}

async function buildBusybox(h: Harness): Promise<string> {
  const op = await h.operations.wait(h.images.build({ name: 'busybox' }).id, 60_000);
  assert.equal(op.status, 'success', JSON.stringify(op.error));
  return h.store.image('busybox')!.content;
}

/** A guest's row, made from version `content` of busybox. */
const guest = (h: Harness, name: string, content: string) => h.store.insertGuest({ name, kind: 'ct', image: 'busybox', imageContent: content, state: 'stopped', limits: {}, options: {} });
const shifted: Derivation = { as: 'shifted', offset: 1_000_000 };
const ensure = (h: Harness, content: string, d: Derivation = shifted) => h.images.forGuest('busybox', content).bases.ensure(d);

test('launches that ask for one base at once share one make; the image counts and lists it', async (t) => {
  const h = setup(t);
  const v1 = await buildBusybox(h);
  const content = h.images.get('busybox').sizeBytes;
  assert.deepEqual(h.images.get('busybox').bases, []);
  const paths = await Promise.all([ensure(h, v1), ensure(h, v1), ensure(h, v1)]);
  assert.equal(new Set(paths).size, 1);
  const [base] = paths;
  assert.equal(path.dirname(base!), h.files.imageDir('busybox'));
  assert.equal(statSync(path.join(base!, 'bin/busybox')).uid, 1_000_000);
  const ino = statSync(base!).ino;
  assert.equal(await ensure(h, v1), base);
  assert.equal(statSync(base!).ino, ino, 'asked again, it is not made again');
  assert.deepEqual(readdirSync(h.files.imageDir('busybox')).sort(), [path.basename(base!), 'rootfs'].sort(), 'nothing half-made is left');
  const image = h.images.get('busybox');
  assert.equal(image.bases.length, 1);
  assert.deepEqual(image.bases[0], { path: base, sizeBytes: image.derivedBytes, current: true });
  assert.ok(image.derivedBytes > 0);
  assert.equal(image.sizeBytes, content + image.derivedBytes);
  assert.deepEqual(h.images.list(), [image]);
});

test('a rebuild makes new bases for new guests; the version before stays, with its bases, for the guests made from it, until the last of them goes', async (t) => {
  const h = setup(t);
  const v1 = await buildBusybox(h);
  writeFileSync(path.join(h.files.rootfs('busybox'), 'etc/version'), 'first');
  guest(h, 'old', v1);
  const old = await ensure(h, v1);
  const oldDisk = await ensure(h, v1, { as: 'ext4', key: 'abc123', additions: {} });
  const v2 = await buildBusybox(h);
  assert.notEqual(v2, v1);
  const fresh = await ensure(h, v2);
  assert.notEqual(fresh, old);
  assert.ok(!existsSync(path.join(fresh, 'etc/version')), 'made from the new version');
  assert.ok(existsSync(old) && existsSync(oldDisk), "the earlier version's bases stay for its guest");
  assert.equal(await ensure(h, v1), old, 'and its guest gets them');
  const kept = path.join(h.files.imageDir('busybox'), `rootfs.version-${v1}`);
  assert.equal(readFileSync(path.join(kept, 'etc/version'), 'utf8'), 'first', 'the earlier content waits aside');
  // a base its guest's version never had is made from that version
  const oldVm = await ensure(h, v1, { as: 'qcow2' });
  assert.notEqual(oldVm, await ensure(h, v2, { as: 'qcow2' }));
  let image = h.images.get('busybox');
  assert.deepEqual(image.bases.map((b) => [b.path, b.current]).sort(), [[old, false], [oldDisk, false], [oldVm, false], [fresh, true], [await ensure(h, v2, { as: 'qcow2' }), true]].sort());
  assert.equal(image.derivedBytes, image.bases.reduce((s, b) => s + b.sizeBytes, 0));
  assert.ok(image.earlierBytes > 0);
  assert.equal(image.sizeBytes, h.store.image('busybox')!.sizeBytes + image.derivedBytes + image.earlierBytes);
  await assert.rejects(h.images.delete('busybox'), /cannot delete image busybox: guests use it \(old\)/);
  h.store.deleteGuest(h.store.guest('old')!.id);
  await h.images.released('busybox');
  for (const gone of [old, oldDisk, oldVm, kept]) assert.ok(!existsSync(gone), `${gone} went with the last guest of its version`);
  assert.ok(existsSync(fresh), "the current version's bases stay");
  image = h.images.get('busybox');
  assert.equal(image.bases.length, 2);
  assert.equal(image.earlierBytes, 0);
  // with no guest, a rebuild drops the version before and its bases at once
  await buildBusybox(h);
  assert.ok(!existsSync(fresh));
  assert.deepEqual(h.images.get('busybox').bases, []);
  assert.deepEqual(readdirSync(h.files.imageDir('busybox')), ['rootfs']);
  await ensure(h, h.store.image('busybox')!.content);
  await h.images.delete('busybox');
  assert.deepEqual(readdirSync(h.files.dir), [], 'the image goes with its bases');
  assert.deepEqual(h.store.imageFiles(), []);
});

test('a pv COW header names a base of its image: which says where it is and whether it is there', async (t) => {
  const h = setup(t);
  const v1 = await buildBusybox(h);
  const bases = h.images.forGuest('busybox', v1).bases;
  const disk = await bases.ensure({ as: 'ext4', key: 'abc123', additions: {} });
  assert.deepEqual(await bases.which(disk, 'ext4'), { path: disk, present: true });
  const before = path.join(h.files.imageDir('busybox'), 'rootfs.ext4');
  assert.deepEqual(await bases.which(before, 'ext4'), { path: before, present: false }, 'a name bases had before they were named');
  assert.equal(await bases.which(disk, 'qcow2'), undefined, 'not a base of that derivation');
  assert.equal(await bases.which(path.join(h.files.imageDir('busybox'), 'rootfs'), 'ext4'), undefined);
  assert.equal(await bases.which(path.join(h.dir, path.basename(disk)), 'ext4'), undefined, 'outside the image');
});

test('at start: a new version a crash stopped half-way is undone, half-made bases go, unrecorded ones are recorded, unneeded ones go', async (t) => {
  const h = setup(t);
  const v1 = await buildBusybox(h);
  guest(h, 'g', v1);
  const base = await ensure(h, v1);
  const dir = h.files.imageDir('busybox');
  // a replace stopped after the new content went in, before it was recorded
  renameSync(path.join(dir, 'rootfs'), path.join(dir, `rootfs.version-${v1}`));
  mkdirSync(path.join(dir, 'rootfs'));
  writeFileSync(path.join(dir, 'rootfs', 'unrecorded'), '');
  writeFileSync(path.join(dir, `${path.basename(base)}+making-99`), '');
  // a base made by a lodged that stopped before recording it, and the record of one removed
  writeFileSync(path.join(dir, 'rootfs.vm-0123456789ab.qcow2'), 'disk');
  h.store.recordImageFile({ image: 'busybox', file: 'rootfs.uml-0123456789ab.ext4', role: 'base', content: 'gone', sizeBytes: 1 });
  assert.deepEqual(await h.images.restore(), [
    'image busybox: a new version was being put in place when lodged stopped; the one before is back',
    `image busybox: removed ${path.basename(base)}+making-99, a base a crash left half-made`,
  ]);
  assert.ok(existsSync(path.join(dir, 'rootfs/bin/busybox')) && !existsSync(path.join(dir, 'rootfs/unrecorded')));
  assert.deepEqual(readdirSync(dir).sort(), [path.basename(base), 'rootfs', 'rootfs.vm-0123456789ab.qcow2'].sort());
  assert.deepEqual(
    h.images.get('busybox').bases.map((b) => [path.basename(b.path), b.current]),
    [[path.basename(base), true], ['rootfs.vm-0123456789ab.qcow2', true]],
  );
});
