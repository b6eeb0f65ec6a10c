import { test } from 'node:test';
import assert from 'node:assert/strict';
import { qemuArgv } from './argv.js';

const base = {
  binary: '/usr/bin/qemu-system-x86_64',
  name: 'vm1',
  accel: 'tcg' as const,
  memoryBytes: 256 * 1024 * 1024,
  cpus: 2,
  kernel: '/k/vmlinuz',
  initrd: '/k/initrd.gz',
  disk: '/g/vm/root.qcow2',
  qmpSocket: '/g/vm/qmp.sock',
  init: '/sbin/init',
};

const after = (argv: string[], flag: string) => argv[argv.indexOf(flag) + 1];

test('a TCG guest on q35 with -cpu max, its memory, vCPUs, kernel and disk', () => {
  const argv = qemuArgv(base);
  assert.equal(after(argv, '-accel'), 'tcg');
  assert.equal(after(argv, '-cpu'), 'max');
  assert.equal(after(argv, '-machine'), 'q35');
  assert.equal(after(argv, '-m'), '256M');
  assert.equal(after(argv, '-smp'), '2');
  assert.equal(after(argv, '-serial'), 'stdio');
  assert.equal(after(argv, '-qmp'), 'unix:/g/vm/qmp.sock,server=on,wait=off');
  assert.match(after(argv, '-drive')!, /^file=\/g\/vm\/root\.qcow2,if=virtio,format=qcow2/);
  assert.match(after(argv, '-append')!, /console=ttyS0 .*LODGE_HOSTNAME=vm1 .*LODGE_INIT=\/sbin\/init/);
  assert.match(after(argv, '-sandbox')!, /^on,/);
});

test('KVM uses the host CPU model', () => {
  assert.equal(after(qemuArgv({ ...base, accel: 'kvm' }), '-cpu'), 'host');
});
