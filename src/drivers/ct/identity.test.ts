import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeHostname } from './identity.js';

test('the hostname is written into the guest root, and never through a link', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-identity-'));
  try {
    const plain = path.join(dir, 'plain');
    mkdirSync(path.join(plain, 'etc'), { recursive: true });
    await writeHostname(plain, 'web1', process.getuid!());
    assert.equal(readFileSync(path.join(plain, 'etc/hostname'), 'utf8'), 'web1\n');

    // /etc/hostname pointing outside the root: refused, the target untouched
    const outside = path.join(dir, 'outside');
    writeFileSync(outside, 'precious\n');
    const linked = path.join(dir, 'linked');
    mkdirSync(path.join(linked, 'etc'), { recursive: true });
    symlinkSync(outside, path.join(linked, 'etc/hostname'));
    await assert.rejects(writeHostname(linked, 'web1', 0), { code: 'ELOOP' });
    assert.equal(readFileSync(outside, 'utf8'), 'precious\n');

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
