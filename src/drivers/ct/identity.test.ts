import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeHostname, writeResolvConf } from './identity.js';

test('the hostname and name server are written into the guest root, and never through a link', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-identity-'));
  try {
    const plain = path.join(dir, 'plain');
    mkdirSync(path.join(plain, 'etc'), { recursive: true });
    await writeHostname(plain, 'web1', process.getuid!());
    assert.equal(readFileSync(path.join(plain, 'etc/hostname'), 'utf8'), 'web1\n');

    // /etc/hostname and /etc/resolv.conf pointing outside the root: replaced by files, the target untouched
    const outside = path.join(dir, 'outside');
    writeFileSync(outside, 'precious\n');
    const linked = path.join(dir, 'linked');
    mkdirSync(path.join(linked, 'etc'), { recursive: true });
    symlinkSync(outside, path.join(linked, 'etc/hostname'));
    symlinkSync(outside, path.join(linked, 'etc/resolv.conf'));
    await writeHostname(linked, 'web1', process.getuid!());
    await writeResolvConf(linked, '10.50.0.1', 'lodge', process.getuid!());
    assert.equal(readFileSync(outside, 'utf8'), 'precious\n');
    assert.ok(!lstatSync(path.join(linked, 'etc/hostname')).isSymbolicLink());
    assert.equal(readFileSync(path.join(linked, 'etc/hostname'), 'utf8'), 'web1\n');
    assert.equal(readFileSync(path.join(linked, 'etc/resolv.conf'), 'utf8'), 'nameserver 10.50.0.1\nsearch lodge\n');

    // /etc itself a link: skipped
    const etcLink = path.join(dir, 'etclink');
    mkdirSync(etcLink);
    symlinkSync(dir, path.join(etcLink, 'etc'));
    await writeHostname(etcLink, 'web1', 0);
    assert.throws(() => readFileSync(path.join(dir, 'hostname')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
