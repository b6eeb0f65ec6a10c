import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chown, link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { LodgeError } from '../api/errors.js';
import { run } from '../lib/exec.js';
import { createStore } from '../storage/backup-store/store.js';
import { OverlayView, type OverlaySource } from './backup-files-overlay.js';

const hostId = 1_000_000;

/** What a tar holds: path, type, owner, link and content of each entry. */
async function entriesOf(tar: AsyncIterable<Buffer>): Promise<string[]> {
  const out: string[] = [];
  const parser = new Parser({
    onReadEntry: (e: ReadEntry) => {
      const chunks: Buffer[] = [];
      e.on('data', (c: Buffer) => chunks.push(c));
      e.on('end', () => out.push(`${e.path} ${e.type} ${e.uid}:${e.gid}${e.linkpath ? ` -> ${e.linkpath}` : ''}${chunks.length ? ` ${Buffer.concat(chunks).toString()}` : ''}`));
    },
  });
  await new Promise<void>((resolve, reject) => Readable.from(tar, { objectMode: false }).pipe(parser).on('end', resolve).on('error', reject));
  return out;
}

const notFound = (why: RegExp) => (e: unknown) => e instanceof LodgeError && e.code === 'NOT_FOUND' && why.test(e.message);

/**
 * A container's root volume as a backup holds it (an upper layer with a whiteout, an opaque
 * directory, a file changed, one added and a hard link, owners of the host) over an image's rootfs.
 */
test('a container backup over its image: merged as overlayfs merges, listed and sent as a tar in the guest\'s ids', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lodge-overlay-'));
  try {
    const lower = path.join(dir, 'rootfs');
    for (const d of ['etc', 'bin', 'usr/lib', 'old']) await mkdir(path.join(lower, d), { recursive: true });
    await writeFile(path.join(lower, 'etc/hostname'), 'image\n');
    await writeFile(path.join(lower, 'etc/passwd'), 'root:x:0:0\n');
    await writeFile(path.join(lower, 'bin/busybox'), 'ELF');
    await link(path.join(lower, 'bin/busybox'), path.join(lower, 'bin/sh'));
    await writeFile(path.join(lower, 'usr/lib/libc'), 'libc');
    await writeFile(path.join(lower, 'old/a'), 'a');
    await symlink('usr/lib', path.join(lower, 'lib'));

    const volume = path.join(dir, 'volume');
    const upper = path.join(volume, 'upper');
    for (const d of ['etc', 'root', 'new']) await mkdir(path.join(upper, d), { recursive: true });
    await writeFile(path.join(upper, 'etc/hostname'), 'web1\n');
    await run(['mknod', path.join(upper, 'etc/passwd'), 'c', '0', '0']);
    await writeFile(path.join(upper, 'root/notes'), 'notes\n');
    // the guest's root is the host's hostId: what the guest and lodged wrote is the guest's
    await run(['chown', '-hR', `${hostId}:${hostId}`, upper]);
    await chown(path.join(upper, 'root/notes'), hostId + 5, hostId + 7);
    await link(path.join(upper, 'root/notes'), path.join(upper, 'root/same'));
    await writeFile(path.join(upper, 'new/file'), 'new');
    // a directory of the image the guest removed and made again: overlayfs marks it opaque
    await mkdir(path.join(upper, 'old'));
    await writeFile(path.join(upper, 'old/b'), 'b');
    await run(['setfattr', '-n', 'trusted.overlay.opaque', '-v', 'y', path.join(upper, 'old')]);
    await mkdir(path.join(volume, 'work'));

    const store = await createStore(path.join(dir, 'store'));
    const m = await store.runBackup('g', {}, (w) => w.addTree('root', volume).then(() => undefined));
    const source: OverlaySource = { store, group: 'g', id: m.id, tree: 'root', upper: 'upper', idMap: { hostId, size: 65536 }, lower, lowerName: 'image busybox' };

    const listed = await OverlayView.open(source, [[]], 1);
    assert.deepEqual((await listed.list([])).map((e) => `${e.name} ${e.type}`), ['bin dir', 'etc dir', 'lib symlink', 'new dir', 'old dir', 'root dir', 'usr dir']);
    const etc = await OverlayView.open(source, [['etc']], 1);
    assert.deepEqual((await etc.list(['etc'])).map((e) => `${e.name} ${e.uid}:${e.gid} ${e.sizeBytes}`), ['hostname 0:0 5']);
    const old = await OverlayView.open(source, [['old']], 1);
    assert.deepEqual((await old.list(['old'])).map((e) => e.name), ['b'], "the opaque directory hides the image's");
    await assert.rejects(old.resolve(['old', 'a']), notFound(/\/old\/a is not in backup .*: there is no such file/));
    const notes = await OverlayView.open(source, [['root', 'notes']], 1);
    assert.deepEqual((await notes.list(['root', 'notes'])).map((e) => `${e.name} ${e.mode} ${e.uid}:${e.gid}`), ['notes 0644 5:7']);

    const view = await OverlayView.open(source, [['etc'], ['root'], ['bin'], ['etc', 'passwd'], ['nothing'], ['lib', 'libc']], Infinity);
    await assert.rejects(view.resolve(['etc', 'passwd']), notFound(/\/etc\/passwd is not in backup g\/.*: the guest had deleted it/));
    await assert.rejects(view.resolve(['nothing']), notFound(/\/nothing is not in backup .*: there is no such file/));
    await assert.rejects(view.resolve(['lib', 'libc']), notFound(/\/lib\/libc is not in backup .*: \/lib is a symbolic link \(to usr\/lib\): ask for the path it leads to/));
    const nodes = await Promise.all([['etc'], ['root'], ['bin']].map((p) => view.resolve(p)));
    assert.deepEqual(await entriesOf(view.tar(nodes)), [
      'etc/ Directory 0:0',
      'etc/hostname File 0:0 web1\n',
      'root/ Directory 0:0',
      'root/notes File 5:7 notes\n',
      'root/same Link 5:7 -> root/notes',
      'bin/ Directory 0:0',
      'bin/busybox File 0:0 ELF',
      'bin/sh Link 0:0 -> bin/busybox',
    ]);

    // without the image's version, what the guest changed is all there is
    const alone = await OverlayView.open({ ...source, lower: undefined }, [['etc'], ['bin']], Infinity);
    assert.deepEqual(await entriesOf(alone.tar([await alone.resolve(['etc'])])), ['etc/ Directory 0:0', 'etc/hostname File 0:0 web1\n']);
    await assert.rejects(alone.resolve(['bin']), notFound(/\/bin is not in backup .*: it is not in what the guest changed, and image busybox, which holds the rest of its files, is not on this host/));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
