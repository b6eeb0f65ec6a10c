import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeChunk, encodeChunk, ChunkError } from './chunk-codec.js';
import { configFileName } from './format.js';
import { createStore, openStore } from './store.js';
import { withDir } from './temp-dir.test-support.js';

test('a store is created with its layout, and opening what is not one names the path', async () => {
  await withDir(async (dir) => {
    await assert.rejects(openStore(dir), (e: Error) => e.message.includes(dir) && /not a backup store/.test(e.message));
    const s = await createStore(path.join(dir, 's'));
    assert.deepEqual((await readdir(s.root)).sort(), ['backups', 'chunks', configFileName, 'locks'].sort());
    await assert.rejects(createStore(s.root), /a backup store already/);
    const config = JSON.parse(await readFile(path.join(s.root, configFileName), 'utf8'));
    assert.equal(config.encryption, null);
    await writeFile(path.join(s.root, configFileName), JSON.stringify({ ...config, version: 99 }));
    await assert.rejects(openStore(s.root), (e: Error) => e.message.includes(s.root) && /version 99 is not supported/.test(e.message));
    await writeFile(path.join(s.root, configFileName), '{"format":');
    await assert.rejects(openStore(s.root), /not JSON/);
  });
});

test('an encrypted store needs its key, tells a wrong one, and its chunk ids are not plain SHA-256', async () => {
  await withDir(async (dir) => {
    const key = randomBytes(32);
    const s = await createStore(dir, { encryptionKey: key });
    const config = await readFile(path.join(dir, configFileName), 'utf8');
    assert.ok(!config.includes(key.toString('hex')) && !config.includes(key.toString('base64')));
    await assert.rejects(openStore(dir), /is encrypted: its key is needed/);
    await assert.rejects(openStore(dir, { key: randomBytes(32) }), /is not the key of backup store/);
    await assert.rejects(openStore(dir, { key: randomBytes(16) }), /must be 32 bytes/);
    const data = Buffer.alloc(100_000, 'lodge');
    const { id } = await s.chunks.put(data);
    assert.notEqual(id, createHash('sha256').update(data).digest('hex'));
    const file = await s.chunks.readFile(id);
    assert.equal(file.indexOf(Buffer.from('lodgelodge')), -1, 'the plaintext does not show in the chunk file');
    const again = await openStore(dir, { key });
    assert.deepEqual(await again.chunks.get(id), data);
  });
});

test('a chunk file is checked: damage, a swap under another id and a truncation are named errors', async () => {
  const key = randomBytes(32);
  const id = randomBytes(32);
  const data = randomBytes(5000);
  for (const cipher of [undefined, key]) {
    const file = Buffer.concat(encodeChunk(data, id, { cipher, level: 3 }));
    assert.deepEqual(decodeChunk(file, id, { cipher, level: 3 }), data);
    const bad = Buffer.from(file);
    bad[bad.length - 10]! ^= 1;
    if (cipher) assert.throws(() => decodeChunk(bad, id, { cipher, level: 3 }), (e: Error) => e instanceof ChunkError && /fails authentication/.test(e.message));
    if (cipher) assert.throws(() => decodeChunk(file, randomBytes(32), { cipher, level: 3 }), /fails authentication/);
    assert.throws(() => decodeChunk(file.subarray(0, 6), id, { cipher, level: 3 }), new RegExp(`chunk ${id.toString('hex')}: not a chunk file`));
  }
});

test('a chunk that was there is not written again, only touched', async () => {
  await withDir(async (dir) => {
    const s = await createStore(dir);
    const data = randomBytes(10_000);
    const first = await s.chunks.put(data);
    assert.ok(first.storedBytes > 0);
    const second = await s.chunks.put(data);
    assert.deepEqual(second, { id: first.id, storedBytes: 0 });
    const file = s.chunks.pathOf(first.id);
    await writeFile(file, Buffer.concat([await readFile(file), Buffer.from('x')]).subarray(1));
    await assert.rejects(s.chunks.get(first.id), (e: Error) => e instanceof ChunkError && e.message.includes(first.id));
  });
});
