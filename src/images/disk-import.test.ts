import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isoProblem, sniff } from './disk-import.js';

const sector = 2048;

function pvd(blocks: number): Buffer {
  const b = Buffer.alloc(sector);
  b[0] = 1;
  b.write('CD001', 1, 'latin1');
  b.writeUInt32LE(blocks, 80);
  b.writeUInt16LE(sector, 128);
  return b;
}
const bootRecord = () => {
  const b = Buffer.alloc(sector);
  b.write('EL TORITO SPECIFICATION', 7, 'latin1');
  return b;
};

test('sniff tells qcow2 and ISO apart by their magic, and says nothing of the rest', () => {
  const head = Buffer.alloc(17 * sector);
  assert.equal(sniff(head), undefined);
  assert.equal(sniff(Buffer.concat([Buffer.from('QFI\xfb', 'latin1'), head])), 'qcow2');
  const iso = Buffer.alloc(17 * sector);
  pvd(10).copy(iso, 16 * sector);
  assert.equal(sniff(iso), 'iso');
});

test('an ISO must be as long as its volume descriptor says, and bootable', () => {
  assert.equal(isoProblem(pvd(100), bootRecord(), 100 * sector), undefined);
  assert.equal(isoProblem(pvd(100), bootRecord(), 50 * sector), `truncated ISO: its volume descriptor says ${100 * sector} bytes, the file has ${50 * sector}`);
  assert.match(isoProblem(pvd(100), Buffer.alloc(sector), 100 * sector)!, /not bootable/);
  assert.match(isoProblem(Buffer.alloc(sector), bootRecord(), 100 * sector)!, /no primary volume descriptor/);
});
