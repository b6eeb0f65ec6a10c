import { test } from 'node:test';
import assert from 'node:assert/strict';
import { umlArgv } from './argv.js';

const base = {
  kernel: '/usr/bin/linux.uml',
  umlDir: '/var/lib/lodge/guests/ab-1',
  umid: 'uml',
  memoryBytes: 128 * 1024 * 1024,
  cow: '/var/lib/lodge/guests/ab-1/root.cow',
  base: '/var/lib/lodge/images/busybox/rootfs.ext4',
  init: '/sbin/init',
  hostname: 'pv1',
  hostfsRoot: '/var/lib/lodge/guests/ab-1/pv/agent',
  nics: [],
};

test('the guest boots from a COW file over the shared base, on the shim console', () => {
  const argv = umlArgv(base);
  assert.equal(argv[0], '/usr/bin/linux.uml');
  assert.ok(argv.includes('ubd0=/var/lib/lodge/guests/ab-1/root.cow,/var/lib/lodge/images/busybox/rootfs.ext4'));
  assert.ok(argv.includes('root=/dev/ubda'));
  assert.ok(argv.includes('con0=fd:0,fd:1'));
  assert.ok(argv.includes('con=null'));
  assert.ok(argv.indexOf('ssl1=fd:4,fd:5') > argv.indexOf('ssl=null'), "lodge-execd's line, the shim's fds 4 and 5, after the rest of the lines are nulled");
  assert.ok(argv.includes('umid=uml') && argv.includes('uml_dir=/var/lib/lodge/guests/ab-1'));
  assert.ok(argv.includes('LODGE_HOSTNAME=pv1'));
  assert.ok(argv.includes('hostfs=/var/lib/lodge/guests/ab-1/pv/agent'));
  assert.ok(argv.includes('systemd.hostname=pv1'));
});

test("volumes are ubd disks by their slot, beside the root's ubd0", () => {
  const argv = umlArgv({ ...base, disks: [{ slot: 1, file: '/p/custom/a/disk.raw' }, { slot: 3, file: '/p/custom/b/disk.raw' }] });
  assert.deepEqual(argv.filter((a) => a.startsWith('ubd')), ['ubd0=/var/lib/lodge/guests/ab-1/root.cow,/var/lib/lodge/images/busybox/rootfs.ext4', 'ubd1d=/p/custom/a/disk.raw', 'ubd3d=/p/custom/b/disk.raw']);
});

test('memory is given in whole MiB', () => {
  assert.ok(umlArgv({ ...base, memoryBytes: 256 * 1024 * 1024 }).includes('mem=256M'));
  assert.ok(umlArgv({ ...base, memoryBytes: 100 * 1024 * 1024 + 5 }).includes('mem=100M'));
});

test('a NIC is a tuntap transport on its tap, with the MAC the plan gave', () => {
  const argv = umlArgv({
    ...base,
    nics: [
      { tap: 'lvabc1x0', mac: '02:00:00:00:00:01', address: '10.1.0.5/24', gateway: '10.1.0.1' },
      { tap: 'lvabc1x1', mac: '02:00:00:00:00:02', address: '10.2.0.5/24', gateway: '10.2.0.1' },
    ],
  });
  assert.ok(argv.includes('LODGE_NIC0=10.1.0.5/24,10.1.0.1') && argv.includes('LODGE_NIC1=10.2.0.5/24,10.2.0.1'));
  assert.ok(argv.includes('eth0=tuntap,lvabc1x0,02:00:00:00:00:01'));
  assert.ok(argv.includes('eth1=tuntap,lvabc1x1,02:00:00:00:00:02'));
});
