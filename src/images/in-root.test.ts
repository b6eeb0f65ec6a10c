import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { resolveInRoot } from './in-root.js';

const root = mkdtempSync(path.join(tmpdir(), 'lodge-in-root-'));
after(() => rmSync(root, { recursive: true, force: true }));

test("an image's links lead inside its root, whatever they say", async () => {
  mkdirSync(path.join(root, 'usr/lib'), { recursive: true });
  symlinkSync('usr/lib', path.join(root, 'lib')); // merged /usr, as Debian has it
  symlinkSync('/etc/hostile', path.join(root, 'abs')); // absolute: the guest's /etc, not the host's
  symlinkSync('../../../../..', path.join(root, 'up'));
  symlinkSync('loop', path.join(root, 'loop'));
  assert.equal(await resolveInRoot(root, 'lib/modules'), path.join(root, 'usr/lib/modules'));
  assert.equal(await resolveInRoot(root, 'abs/x'), path.join(root, 'etc/hostile/x'));
  assert.equal(await resolveInRoot(root, 'up/etc'), path.join(root, 'etc'));
  assert.equal(await resolveInRoot(root, '../../etc/passwd'), path.join(root, 'etc/passwd'));
  await assert.rejects(resolveInRoot(root, 'loop/x'), /more than 40 symbolic links/);
});
