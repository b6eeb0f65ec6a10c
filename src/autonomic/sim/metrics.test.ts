import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Meter } from './metrics.js';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} is not ${b}`);

test('SLATAH is the mean over active hosts of their share of time at 100 %; hosts never on do not count', () => {
  const m = new Meter(3, 1);
  m.host(0, 300, 30); // 10 %
  m.host(1, 600, 0); // 0 %
  const s = m.summary();
  close(s.slatah, 0.05);
  close(s.slatahPooled, 30 / 900);
});

test('PDM is the mean over VMs of 10 % of the CPU requested while migrating over all CPU requested', () => {
  const m = new Meter(1, 2);
  m.requestedMi[0] = 1000 * 3000;
  m.requestedMi[1] = 500 * 3000;
  m.migration(0, 1000, 30); // loses 3000 MI of 3e6
  const s = m.summary();
  assert.equal(s.migrations, 1);
  close(s.pdm, (3000 / 3e6 + 0) / 2);
  close(s.pdmPooled, 3000 / 4.5e6);
});

test('SLAV and ESV multiply out; energy is in kWh', () => {
  const m = new Meter(1, 1);
  m.energyJ = 7.2e6;
  m.host(0, 100, 50);
  m.requestedMi[0] = 1000;
  m.migration(0, 100, 10); // 100 MI lost of 1000
  const s = m.summary();
  close(s.energyKwh, 2);
  close(s.slav, 0.5 * 0.1);
  close(s.esv, 2 * 0.05);
});
