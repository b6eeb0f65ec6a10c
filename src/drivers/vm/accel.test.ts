import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chooseAccel, probeAccel, probeBootSector } from './accel.js';

test('auto takes KVM only where it runs the probe guest at least twice as fast as TCG', () => {
  assert.equal(chooseAccel('auto', { tcgSeconds: 0.2, kvm: { kind: 'ran', seconds: 0.05, cpu: 'host' } }).accel, 'kvm');
  const close = chooseAccel('auto', { tcgSeconds: 0.2, kvm: { kind: 'ran', seconds: 0.15, cpu: 'host' } });
  assert.equal(close.accel, 'tcg');
  assert.match(close.reason, /not clearly faster/);
  const slow = chooseAccel('auto', { tcgSeconds: 0.18, kvm: { kind: 'slow', moreThanSeconds: 1, cpu: 'host' } });
  assert.deepEqual(slow, { accel: 'tcg', cpu: 'max', reason: 'auto: KVM ran the probe guest in more than 1.00 s, TCG in 0.18 s: this host\'s KVM is nested or emulated' });
  assert.match(chooseAccel('auto', { tcgSeconds: 0.2, kvm: { kind: 'missing', why: '/dev/kvm is missing' } }).reason, /^auto: \/dev\/kvm is missing/);
  assert.match(chooseAccel('auto', { tcgSeconds: 0.2, kvm: { kind: 'failed', why: 'failed to set MSR 0x10a' } }).reason, /KVM failed the probe \(failed to set MSR 0x10a\)/);
});

test('an explicit accelerator is taken as asked, with the CPU model the probe found working', () => {
  const probe = { tcgSeconds: 0.2, kvm: { kind: 'slow', moreThanSeconds: 1, cpu: 'host,-arch-capabilities' } } as const;
  assert.deepEqual(chooseAccel('kvm', probe), { accel: 'kvm', cpu: 'host,-arch-capabilities', reason: 'asked for (--accel kvm)' });
  assert.deepEqual(chooseAccel('tcg'), { accel: 'tcg', cpu: 'max', reason: 'asked for (--accel tcg)' });
});

test('the probe boot sector is one bootable sector with its round count', () => {
  const s = probeBootSector(300);
  assert.equal(s.length, 512);
  assert.equal(s.readUInt16LE(510), 0xaa55);
  assert.equal(s.readUInt16LE(2), 300);
});

test('the probe boots its guest under real QEMU TCG and judges KVM', { timeout: 60_000 }, async () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'lodge-accel-test-'));
  try {
    const probe = await probeAccel('/usr/bin/qemu-system-x86_64', scratch);
    assert.ok(probe.tcgSeconds > 0 && probe.tcgSeconds < 30);
    assert.ok(['missing', 'failed', 'ran', 'slow'].includes(probe.kvm.kind));
    assert.deepEqual(readdirSync(scratch), [], 'the probe leaves nothing in its scratch directory');
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});
