/**
 * Files out of backups (lodge backup restore --files, lodge backup files) on real engines: a
 * ct and a pv guest of the busybox image on the btrfs default pool write marker files, are
 * backed up, change them, and --files brings back the old ones (owners as the guest had
 * them); a file the guest had deleted, a path not there and a path with .. are refused,
 * each saying so. A vm guest too (its whole disk restored from the backup). Once the image is rebuilt and the
 * version a container was made from is gone, what the container had changed still comes
 * back, and the rest is named as what could not be had.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LodgeError } from '../../src/api/errors.js';
import type { GuestKind } from '../../src/api/common.js';
import { guestSh, requireProgram, TestDaemon } from './harness.js';

const d = new TestDaemon();
before(async () => {
  requireProgram('/usr/bin/linux.uml', 'user-mode-linux');
  requireProgram('/usr/sbin/debugfs', 'e2fsprogs');
  requireProgram('/usr/bin/qemu-system-x86_64', 'qemu-system-x86');
  await d.start();
  await d.buildBusybox();
  const cli = d.lodge(['backup-store', 'create', 'local', path.join(d.dir, 'backups')]);
  assert.equal(cli.code, 0, cli.stderr);
});
after(() => d.cleanup());

/** The backup of the container, for the last test. */
let ctBackup = '';

for (const kind of ['ct', 'pv', 'vm'] as GuestKind[]) {
  test(`${kind}: files of a backup come back as they were, owners and all; a deleted file and a path not there are refused`, async () => {
    const name = `f-${kind}`;
    await d.launch(name, { kind, networks: [], ...(kind === 'ct' ? {} : { limits: { memory: '128M' } }) });
    await guestSh(d, name, 'echo one > /root/notes && chown 5:7 /root/notes && echo x > /root/suid && chmod 4755 /root/suid && mkdir -p /srv/app/conf && echo a > /srv/app/conf/a && rm /etc/fstab && sync');
    // a directory of the image made again (opaque in a container's upper layer): only what the guest put there
    if (kind === 'ct') await guestSh(d, name, 'rm -rf /etc/acpi && mkdir /etc/acpi && echo mine > /etc/acpi/only && sync');
    await d.done(await d.client.backups.create(name, {}), 300);
    const { id } = (await d.client.backups.list('local', name)).at(-1)!;
    if (kind === 'ct') ctBackup = id;
    await guestSh(d, name, 'echo two > /root/notes && rm -r /srv/app && sync');

    const to = path.join(d.dir, `${name}-files`);
    const cli = d.lodge(['backup', 'restore', name, id, '--files', '/root/notes', '/root/suid', '/srv/app', '/etc/hosts', '--to', to]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(readFileSync(path.join(to, 'root/notes'), 'utf8'), 'one\n');
    // by default the files are the caller's, and a guest's setuid file is not the host's
    assert.equal(statSync(path.join(to, 'root/notes')).uid, process.getuid!());
    assert.equal(statSync(path.join(to, 'root/suid')).mode & 0o7000, 0);
    const same = d.lodge(['backup', 'restore', name, id, '--files', '/root/notes', '--to', `${to}-owners`, '--same-owner']);
    assert.equal(same.code, 0, same.stderr);
    const notes = statSync(path.join(`${to}-owners`, 'root/notes'));
    assert.deepEqual([notes.uid, notes.gid], [5, 7], "--same-owner: the guest's owners, not the host's");
    assert.equal(readFileSync(path.join(to, 'srv/app/conf/a'), 'utf8'), 'a\n');
    // a file the guest never changed: the image's
    assert.equal(readFileSync(path.join(to, 'etc/hosts'), 'utf8'), '127.0.0.1 localhost\n::1 localhost\n');
    assert.deepEqual(readdirSync(to).sort(), ['etc', 'root', 'srv']);

    const listed = d.lodge(['backup', 'files', name, id, '/root']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^-rw-r--r--\s+5\s+7\s+4B\s.*\bnotes$/m);
    const json = await d.client.backups.listFiles('local', name, id, '/srv/app/conf/a');
    assert.deepEqual(json.entries.map((e) => [e.name, e.type, e.sizeBytes]), [['a', 'file', 2]]);
    if (kind === 'ct') assert.deepEqual((await d.client.backups.listFiles('local', name, id, '/etc/acpi')).entries.map((e) => e.name), ['only']);

    const refused = d.lodge(['backup', 'restore', name, id, '--files', '/etc/fstab', '--to', path.join(d.dir, `${name}-none`)]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, kind === 'ct' ? /\/etc\/fstab is not in backup .*: the guest had deleted it/ : /\/etc\/fstab is not in backup .*File not found/);
    await assert.rejects(d.client.backups.listFiles('local', name, id, '/no/such'), (e: unknown) => e instanceof LodgeError && e.code === 'NOT_FOUND' && /\/no\/such is not in backup/.test(e.message));
    await assert.rejects(d.client.backups.downloadFiles('local', name, id, ['/root/../etc/shadow'], process.stdout), (e: unknown) => e instanceof LodgeError && e.code === 'BAD_REQUEST' && /has a "\.\." component/.test(e.message));
    assert.deepEqual(readdirSync(d.dir).filter((f) => f === `${name}-none`), [], 'a refused restore leaves no directory');
    const full = d.lodge(['backup', 'restore', name, id, '--files', '/root/notes', '--to', to]);
    assert.match(full.stderr, /--to: .* is not empty/);
    const tar = d.lodge(['backup', 'restore', name, id, '--files', '/root/notes', '--to', '-']);
    assert.equal(tar.code, 0, tar.stderr);
    assert.match(tar.stdout, /^root\/notes\0[^]*\0one\n/, 'a tar on standard output');
    // the scratch of each read is gone once it is answered
    const scratch = () => readdirSync(path.join(d.stateDir, 'tmp')).filter((f) => f.startsWith('backup-files-'));
    for (let i = 0; i < 50 && scratch().length > 0; i++) await sleep(100);
    assert.deepEqual(scratch(), []);
    await d.done(await d.client.guests.delete(name, true));
  });
}

test('ct: with its image rebuilt since (the version it was made from gone), the files it had changed come back, and the rest is named as missing', async () => {
  await d.buildBusybox();
  const to = path.join(d.dir, 'f-ct-alone');
  const cli = d.lodge(['backup', 'restore', 'f-ct', ctBackup, '--files', '/root/notes', '--to', to]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stderr, /warning: the version of image busybox it was made from \(\S+\) is not on this host: only the files the guest had changed are here/);
  assert.equal(readFileSync(path.join(to, 'root/notes'), 'utf8'), 'one\n');
  const hosts = d.lodge(['backup', 'restore', 'f-ct', ctBackup, '--files', '/etc/hosts', '--to', `${to}-2`]);
  assert.match(hosts.stderr, /\/etc\/hosts is not in backup f-ct\/\S+: it is not in what the guest changed, and the version of image busybox it was made from \(\S+\), which holds the rest of its files, is not on this host/);
});
