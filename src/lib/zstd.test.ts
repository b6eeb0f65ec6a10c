import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compress } from 'zstd-napi';
import { decompressBounded, firstFrameBytes } from './zstd.js';

test('a frame inflates within its bound, and one that would pass it fails without taking what it claims', () => {
  const data = Buffer.alloc(1024 * 1024, 7);
  const frame = compress(data);
  assert.ok(frame.length < 1024, 'a megabyte of one byte packs small');
  assert.ok(decompressBounded(frame, data.length).equals(data));
  const bomb = compress(Buffer.alloc(256 * 1024 * 1024));
  assert.throws(() => decompressBounded(bomb, 64 * 1024), /small|size/i);
  assert.equal(firstFrameBytes(Buffer.concat([frame, Buffer.alloc(300)])), frame.length);
});
