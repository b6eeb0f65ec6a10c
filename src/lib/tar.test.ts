import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { tarEnd, tarHeader, tarPadding, type TarEntry } from './tar.js';

/** What node-tar reads back from an archive: each entry's header fields and data. */
async function readBack(archive: Buffer): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  const parser = new Parser({
    onReadEntry: (e: ReadEntry) => {
      const chunks: Buffer[] = [];
      e.on('data', (c: Buffer) => chunks.push(c));
      e.on('end', () => out.push({ path: e.path, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size, mtime: e.mtime?.getTime(), linkpath: e.linkpath, data: Buffer.concat(chunks).toString() }));
    },
  });
  await new Promise<void>((resolve, reject) => Readable.from([archive]).pipe(parser).on('end', resolve).on('error', reject));
  return out;
}

test('entries read back as written: a directory, a file with data, links, and a name too long for ustar (a pax header)', async () => {
  const mtime = new Date('2026-12-02T07:30:00Z');
  const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
  const entries: Array<[TarEntry, string?]> = [
    [{ path: 'etc', type: 'Directory', mode: 0o755, uid: 0, gid: 0, mtime }],
    [{ path: 'etc/hostname', type: 'File', mode: 0o644, uid: 5, gid: 7, size: 4, mtime }, 'web\n'],
    [{ path: 'etc/link', type: 'SymbolicLink', mode: 0o777, uid: 0, gid: 0, mtime, linkpath: '../x' }],
    [{ path: 'etc/again', type: 'Link', mode: 0o644, uid: 5, gid: 7, mtime, linkpath: 'etc/hostname' }],
    [{ path: long, type: 'File', mode: 0o4755, uid: 1000, gid: 1000, size: 1, mtime }, 'x'],
  ];
  const archive = Buffer.concat([...entries.flatMap(([e, data]) => [tarHeader(e), ...(data ? [Buffer.from(data), tarPadding(data.length)] : [])]), tarEnd()]);
  assert.equal(archive.length % 512, 0);
  const read = await readBack(archive);
  assert.deepEqual(
    read.map((r) => [r.path, r.type, r.mode, r.uid, r.gid, r.mtime, r.linkpath ?? null, r.data]),
    [
      ['etc/', 'Directory', 0o755, 0, 0, mtime.getTime(), null, ''],
      ['etc/hostname', 'File', 0o644, 5, 7, mtime.getTime(), null, 'web\n'],
      ['etc/link', 'SymbolicLink', 0o777, 0, 0, mtime.getTime(), '../x', ''],
      ['etc/again', 'Link', 0o644, 5, 7, mtime.getTime(), 'etc/hostname', ''],
      [long, 'File', 0o4755, 1000, 1000, mtime.getTime(), null, 'x'],
    ],
  );
});
