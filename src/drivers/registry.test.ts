import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guestFeatures } from '../api/host.js';
import { LodgeError } from '../api/errors.js';
import { CtDriver } from './ct/driver.js';
import { canHotplugDisks, hasFiles, type GuestDriver } from './driver.js';
import { PvDriver } from './pv/driver.js';
import { DriverRegistry } from './registry.js';
import { VmDriver } from './vm/driver.js';

const common = { shimBinary: '/nonexistent', cgroupParent: '/lodge', consoleLogBytes: 1024 };
const drivers: GuestDriver[] = [
  new CtDriver({ ...common, runtimeRoot: '/nonexistent', filesBinary: '/nonexistent' }),
  new PvDriver({ ...common, kernel: '/nonexistent', modulesDir: '/nonexistent', xstateLibrary: '/nonexistent' }),
  new VmDriver({ ...common, qemu: '/nonexistent', scratchDir: '/nonexistent', kernelCacheDir: '/nonexistent', busybox: '/bin/busybox' }),
];

test('every driver answers for every feature, and has the methods of what it declares', () => {
  for (const d of drivers) {
    for (const f of guestFeatures) {
      const answer = d.capabilities.features[f];
      assert.ok(answer === true || (typeof answer === 'string' && answer.length > 10), `${d.kind} ${f}: true or a reason`);
    }
    assert.equal(d.capabilities.features.interactiveExec === true, typeof d.interactive === 'function' || typeof d.execTerminal === 'function', `${d.kind}: interactiveExec and interactive() or execTerminal()`);
    assert.equal(d.capabilities.features.diskHotplug === true, canHotplugDisks(d), `${d.kind}: diskHotplug and attachDisk()`);
    const files = d.capabilities.features.files === true || d.capabilities.features.filesStopped === true;
    assert.equal(files, hasFiles(d), `${d.kind}: files and pushFile()`);
  }
});

test('a feature a kind lacks is refused in one shape, with the driver\'s reason and the guest\'s name', async () => {
  const registry = new DriverRegistry();
  for (const d of drivers) await registry.add(d);
  assert.equal(registry.has('ct', 'interactiveExec'), true);
  assert.doesNotThrow(() => registry.require('ct', 'interactiveExec', 'c1'));
  assert.throws(
    () => registry.require('pv', 'vga', 'p1'),
    (e: unknown) => e instanceof LodgeError && e.code === 'UNSUPPORTED' && e.message === 'a VGA screen is not available in pv guests: UML emulates no display: lodge console p1 is its terminal',
  );
  assert.deepEqual(registry.kindsWith((i) => i.imageFormats.includes('iso')), ['vm']);
  const described = DriverRegistry.describe(registry.info('vm')!);
  assert.ok(described.features.includes('interactiveExec') && !described.features.includes('liveMigration'));
  assert.match(described.lacks.liveMigration!, /not yet/);
});
