import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dataCentre, hostPower, hostTypes, migrationSeconds, powerAt } from './model.js';

test('power is the table at its points and linear between them', () => {
  assert.equal(powerAt(hostTypes.g4, 0), 86);
  assert.equal(powerAt(hostTypes.g4, 1), 117);
  assert.ok(Math.abs(powerAt(hostTypes.g5, 0.5) - 116) < 1e-9);
  assert.ok(Math.abs(powerAt(hostTypes.g4, 0.05) - (86 + 89.4) / 2) < 1e-9);
  assert.ok(Math.abs(powerAt(hostTypes.g5, 0.97) - (133 + 0.7 * 2)) < 1e-9);
});

test('a load outside 0..1 is refused with the host named', () => {
  assert.throws(() => powerAt(hostTypes.g4, 1.01), /ML110 G4/);
  assert.throws(() => powerAt(hostTypes.g5, Number.NaN), /outside 0..1/);
});

test('an empty host is asleep at 0 W; one with guests draws at least its idle power', () => {
  assert.equal(hostPower(hostTypes.g5, 0, 0.3), 0);
  assert.equal(hostPower(hostTypes.g5, 1, 0), 93.7);
  assert.equal(hostPower(hostTypes.g4, 2, 1.4), 117);
});

test('NPA by hand: 400 G4 and 400 G5 at full power for 24 h is 2419.2 kWh', () => {
  const kwh = dataCentre(800).reduce((sum, t) => sum + powerAt(t, 1), 0) * 24 / 1000;
  assert.ok(Math.abs(kwh - 2419.2) < 1e-9);
});

test('a migration takes RAM over half of the link', () => {
  assert.ok(Math.abs(migrationSeconds(1740, 1000) - 27.84) < 1e-9);
  assert.ok(Math.abs(migrationSeconds(613, 1000) - 9.808) < 1e-9);
});
