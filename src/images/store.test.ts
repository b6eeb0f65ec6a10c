import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ImageFiles, imageDirName } from './store.js';

test('image names map to directories one to one', () => {
  assert.equal(imageDirName('debian/12'), 'debian_12');
  assert.equal(imageDirName('busybox'), 'busybox');
  assert.equal(imageDirName('x_y'), 'x__y');
  assert.equal(imageDirName('x/y'), 'x_y');
  assert.equal(imageDirName('x_/y'), 'x___y');
  assert.equal(imageDirName('x__y'), 'x____y');
  const names = ['x_y', 'x/y', 'x_/y', 'x__y', 'x/_y'.replace('/_', '/z'), 'a_b/c_d', 'a/b_c_d', 'a_b_c/d', 'a.new', 'a'];
  assert.equal(new Set(names.map(imageDirName)).size, names.length);
});

test('prepare moves the directories of names with "_" from the old mapping and sweeps staging', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-images-'));
  try {
    for (const d of ['debian_12', 'my_img', 'a_b', 'busybox+new', 'gone.old', 'kept.old']) {
      mkdirSync(path.join(dir, d, 'rootfs'), { recursive: true });
      writeFileSync(path.join(dir, d, 'rootfs', 'owner'), d);
    }
    const files = new ImageFiles(dir);
    // a_b and a/b shared one directory under the old mapping: it stays, and says so
    const log = await files.prepare(['debian/12', 'my_img', 'a_b', 'a/b', 'kept.old']);
    assert.deepEqual(readdirSync(dir).sort(), ['a_b', 'debian_12', 'kept.old', 'my__img', 'my_img']);
    assert.equal(existsSync(path.join(files.rootfs('my_img'), 'owner')), true);
    assert.equal(existsSync(path.join(files.rootfs('debian/12'), 'owner')), true);
    assert.deepEqual(log, [
      `image my_img: moved ${dir}/my_img to ${dir}/my__img (the old name is a link to it)`,
      `image a_b: left where it is (${dir}/a_b), it is shared with image a/b; delete both and import them again`,
    ]);
    // guests made before reach their base by its old path; the image that would now own that name waits for it
    assert.equal(readFileSync(path.join(dir, 'my_img', 'rootfs', 'owner'), 'utf8'), 'my_img');
    await assert.rejects(files.staging('my/img'), /name: my\/img's directory .* is where an image of another name was kept before/);
    await files.remove('my_img');
    assert.deepEqual(readdirSync(dir).sort(), ['a_b', 'debian_12', 'kept.old']);
    await files.staging('my/img');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
