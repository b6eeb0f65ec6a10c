import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostnameFile, resolvConfFile, writeEtcFiles } from './identity.js';

test('the hostname and name server go into the upper layer, whose /etc mirrors the image', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-identity-'));
  try {
    const lower = path.join(dir, 'lower');
    const upper = path.join(dir, 'upper');
    mkdirSync(path.join(lower, 'etc'), { recursive: true });
    mkdirSync(upper);
    chmodSync(path.join(lower, 'etc'), 0o751);
    chownSync(path.join(lower, 'etc'), 100000, 100000);
    // the image's resolv.conf is a link out of it: shadowed in the upper layer, its target untouched
    const outside = path.join(dir, 'outside');
    writeFileSync(outside, 'precious\n');
    symlinkSync(outside, path.join(lower, 'etc/resolv.conf'));
    await writeEtcFiles(lower, upper, { ...hostnameFile('web1'), ...resolvConfFile('10.50.0.1', 'lodge') });
    assert.equal(readFileSync(path.join(upper, 'etc/hostname'), 'utf8'), 'web1\n');
    assert.equal(readFileSync(path.join(upper, 'etc/resolv.conf'), 'utf8'), 'nameserver 10.50.0.1\nsearch lodge\n');
    assert.equal(readFileSync(outside, 'utf8'), 'precious\n');
    const etc = lstatSync(path.join(upper, 'etc'));
    assert.equal(etc.mode & 0o7777, 0o751);
    assert.deepEqual([etc.uid, etc.gid], [100000, 100000]);
    assert.equal(lstatSync(path.join(upper, 'etc/hostname')).uid, 100000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an image whose /etc is a link or missing gets no files, and nothing is written through the link', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-identity-'));
  try {
    const lower = path.join(dir, 'lower');
    const upper = path.join(dir, 'upper');
    mkdirSync(lower);
    mkdirSync(upper);
    await writeEtcFiles(lower, upper, hostnameFile('web1'));
    assert.throws(() => lstatSync(path.join(upper, 'etc')));
    symlinkSync(dir, path.join(lower, 'etc'));
    await writeEtcFiles(lower, upper, hostnameFile('web1'));
    assert.throws(() => lstatSync(path.join(upper, 'etc')));
    assert.throws(() => readFileSync(path.join(dir, 'hostname')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a FIFO or a link the guest left where its hostname goes is replaced, never waited on or followed', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-identity-'));
  try {
    const lower = path.join(dir, 'lower');
    const upper = path.join(dir, 'upper');
    mkdirSync(path.join(lower, 'etc'), { recursive: true });
    mkdirSync(path.join(upper, 'etc'), { recursive: true });
    execFileSync('mkfifo', [path.join(upper, 'etc/hostname')]);
    const outside = path.join(dir, 'outside');
    writeFileSync(outside, 'precious\n');
    symlinkSync(outside, path.join(upper, 'etc/resolv.conf'));
    await writeEtcFiles(lower, upper, { ...hostnameFile('web2'), ...resolvConfFile('10.50.0.1', 'lodge') });
    assert.ok(lstatSync(path.join(upper, 'etc/hostname')).isFile());
    assert.equal(readFileSync(path.join(upper, 'etc/hostname'), 'utf8'), 'web2\n');
    assert.ok(lstatSync(path.join(upper, 'etc/resolv.conf')).isFile());
    assert.equal(readFileSync(outside, 'utf8'), 'precious\n');
    // a longer file the guest wrote is cut to the new text
    writeFileSync(path.join(upper, 'etc/hostname'), 'a-much-longer-name\n');
    await writeEtcFiles(lower, upper, hostnameFile('w'));
    assert.equal(readFileSync(path.join(upper, 'etc/hostname'), 'utf8'), 'w\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
