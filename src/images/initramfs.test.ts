import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadOrder, modinfoDepends } from './initramfs.js';

test('modules load after what they depend on, each once', () => {
  const deps: Record<string, string[]> = {
    virtio_blk: ['virtio', 'virtio_ring'],
    virtio_pci: ['virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio', 'virtio_ring'],
    virtio_ring: [],
    virtio: [],
    virtio_pci_modern_dev: [],
    virtio_pci_legacy_dev: [],
  };
  const order = loadOrder(['virtio_pci', 'virtio_blk'], (n) => deps[n] ?? []);
  assert.equal(new Set(order).size, order.length);
  for (const [m, ds] of Object.entries(deps)) for (const d of ds) assert.ok(order.indexOf(d) < order.indexOf(m), `${d} before ${m}`);
  assert.throws(() => loadOrder(['a'], (n) => (n === 'a' ? ['b'] : ['a'])), /cycle/);
});

test('the dependencies are read from the .modinfo strings', () => {
  const ko = Buffer.from('\x7fELF...\0license=GPL\0depends=virtio,virtio_ring\0retpoline=Y\0');
  assert.deepEqual(modinfoDepends(ko), ['virtio', 'virtio_ring']);
  assert.deepEqual(modinfoDepends(Buffer.from('\0depends=\0')), []);
  assert.deepEqual(modinfoDepends(Buffer.from('no modinfo')), []);
});
