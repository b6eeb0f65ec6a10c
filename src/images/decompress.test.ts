import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { compressionOf, compressionOfFile, decompressTarball, plainTarballBytes } from './decompress.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lodge-decompress-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('xz and zstd are told by their magic; gzip and a plain tarball are not theirs', () => {
  assert.equal(compressionOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00])), 'xz');
  assert.equal(compressionOf(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00])), 'zstd');
  assert.equal(compressionOf(Buffer.from([0x1f, 0x8b, 0x08])), undefined);
  assert.equal(compressionOf(Buffer.from('etc/\0\0\0')), undefined);
  assert.equal(compressionOf(Buffer.alloc(0)), undefined);
});

test('an xz and a zstd tarball come back byte for byte (xz-utils and zstd); past the bound or damaged they fail with what happened', async () => {
  const data = Buffer.alloc(300_000, 'lodge ');
  const plain = path.join(dir, 'root.tar');
  writeFileSync(plain, data);
  execFileSync('xz', ['-k', '-T1', plain]);
  execFileSync('zstd', ['-q', '-k', plain, '-o', `${plain}.zst`]);
  for (const [file, compression] of [[`${plain}.xz`, 'xz'], [`${plain}.zst`, 'zstd']] as const) {
    assert.equal(await compressionOfFile(file), compression);
    const out = path.join(dir, `out-${compression}`);
    await decompressTarball(file, compression, out, data.length);
    assert.ok(readFileSync(out).equals(data), `${compression} round trip`);
    await assert.rejects(decompressTarball(file, compression, out, data.length - 1), new RegExp(`the ${compression} tarball is more than 0 MiB decompressed`));
  }
  const damaged = path.join(dir, 'damaged.xz');
  const xz = readFileSync(`${plain}.xz`);
  writeFileSync(damaged, xz.subarray(0, xz.length - 20));
  await assert.rejects(decompressTarball(damaged, 'xz', path.join(dir, 'out-bad'), data.length), /the xz tarball could not be decompressed: .*(Unexpected end|corrupt|truncated)/i);
  // a frame that asks for a 2 GiB window (what a bomb may) is refused before any memory is taken
  const wide = path.join(dir, 'wide.zst');
  writeFileSync(wide, execFileSync('zstd', ['--long=31', '-q', '-c'], { input: data }));
  await assert.rejects(decompressTarball(wide, 'zstd', path.join(dir, 'out-wide'), data.length), /the zstd tarball could not be decompressed: .*(too much memory|Window size larger than maximum)/);
  const damagedZstd = path.join(dir, 'damaged.zst');
  const zst = readFileSync(`${plain}.zst`);
  writeFileSync(damagedZstd, zst.subarray(0, zst.length - 20));
  await assert.rejects(decompressTarball(damagedZstd, 'zstd', path.join(dir, 'out-bad'), data.length), /the zstd tarball could not be decompressed: /);
});

test('a plain tarball takes at most half the free space, so its extraction has the other half', () => {
  assert.equal(plainTarballBytes(1000), 500);
  assert.equal(plainTarballBytes(0), 0);
  // with much room, the bound is what the entries may hold and a quarter more
  const huge = 2 ** 50;
  assert.ok(plainTarballBytes(huge) < huge / 2);
});
