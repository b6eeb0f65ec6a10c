import { test } from 'node:test';
import assert from 'node:assert/strict';
import { qemuArgv, type QemuArgvInput } from './argv.js';

const base: QemuArgvInput = {
  binary: '/usr/bin/qemu-system-x86_64',
  name: 'vm1',
  accel: { accel: 'tcg', cpu: 'max' },
  memoryBytes: 256 * 1024 * 1024,
  mergeable: true,
  cpus: 2,
  maxCpus: 4,
  profile: 'virtio',
  boot: { kind: 'kernel', kernel: '/k/vmlinuz', initrd: '/k/initrd.gz', init: '/sbin/init' },
  disk: '/g/vm/root.qcow2',
  qmpSocket: '/g/vm/qmp.sock',
  qgaSocket: '/g/vm/qga.sock',
  execSocket: '/g/vm/exec.sock',
  vncSocket: '/g/vm/vnc.sock',
  nics: [],
};

const after = (argv: string[], flag: string) => argv[argv.indexOf(flag) + 1];
const all = (argv: string[], flag: string) => argv.flatMap((a, i) => (argv[i - 1] === flag ? [a] : []));

test('a TCG guest on q35 with its CPU model, memory, vCPUs, kernel, disk, QMP and VNC', () => {
  const argv = qemuArgv(base);
  assert.equal(after(argv, '-accel'), 'tcg,tb-size=128');
  assert.equal(after(argv, '-cpu'), 'max');
  assert.equal(after(argv, '-machine'), 'q35,mem-merge=on');
  assert.equal(after(qemuArgv({ ...base, mergeable: false }), '-machine'), 'q35,mem-merge=off', 'lodged --ksm off');
  assert.equal(after(argv, '-m'), '256M');
  assert.equal(after(argv, '-smp'), '2,maxcpus=4', 'room to plug vCPUs in while it runs');
  assert.equal(after(argv, '-serial'), 'stdio');
  assert.equal(after(argv, '-qmp'), 'unix:/g/vm/qmp.sock,server=on,wait=off');
  assert.equal(after(argv, '-vnc'), 'unix:/g/vm/vnc.sock');
  // the guest agent's port by the name qemu-ga looks for, and lodge-execd's, on sockets beside QMP's
  assert.deepEqual(all(argv, '-chardev'), ['socket,id=qga,path=/g/vm/qga.sock,server=on,wait=off', 'socket,id=lodge-exec,path=/g/vm/exec.sock,server=on,wait=off']);
  assert.match(after(argv, '-drive')!, /^file=\/g\/vm\/root\.qcow2,if=none,id=root,format=qcow2/);
  assert.match(after(argv, '-append')!, /console=ttyS0 .*LODGE_HOSTNAME=vm1 .*LODGE_INIT=\/sbin\/init LODGE_ROOT=\/dev\/vda/);
  assert.match(after(argv, '-sandbox')!, /^on,/);
});

const agentPort = ['virtio-serial-pci,id=qga-serial', 'virtserialport,bus=qga-serial.0,chardev=qga,name=org.qemu.guest_agent.0', 'virtserialport,bus=qga-serial.0,chardev=lodge-exec,name=org.lodge.exec.0'];

test('the device profiles: virtio has paravirtual disk, balloon and rng, and root ports for hot-plugged disks; legacy an AHCI disk and no virtio but the agent port', () => {
  const virtio = all(qemuArgv(base), '-device');
  const ports = ['pcie-root-port,id=hp1,chassis=1', 'pcie-root-port,id=hp2,chassis=2', 'pcie-root-port,id=hp3,chassis=3', 'pcie-root-port,id=hp4,chassis=4'];
  assert.deepEqual(virtio, ['VGA', ...agentPort, 'virtio-blk-pci,drive=root,bootindex=1', 'virtio-balloon-pci,id=balloon0', 'virtio-rng-pci', ...ports]);
  const legacyArgv = qemuArgv({ ...base, profile: 'legacy' });
  assert.deepEqual(all(legacyArgv, '-device'), ['VGA', ...agentPort, 'ide-hd,drive=root,bus=ide.0,bootindex=1']);
  assert.match(after(legacyArgv, '-append')!, /LODGE_ROOT=\/dev\/sda/);
});

test('firmware boot: no kernel, the disk first, then the ISO as a read-only cdrom', () => {
  const argv = qemuArgv({ ...base, profile: 'legacy', boot: { kind: 'firmware' }, cdrom: '/i/image.iso' });
  for (const flag of ['-kernel', '-initrd', '-append']) assert.ok(!argv.includes(flag), flag);
  assert.deepEqual(all(argv, '-drive'), ['file=/g/vm/root.qcow2,if=none,id=root,format=qcow2,discard=unmap', 'file=/i/image.iso,if=none,id=cdrom,media=cdrom,readonly=on,format=raw']);
  assert.ok(all(argv, '-device').includes('ide-cd,drive=cdrom,bus=ide.1,bootindex=2'));
});

test("cloud-init's seed: read-only, on virtio-blk in either profile, serial cidata", () => {
  for (const profile of ['virtio', 'legacy'] as const) {
    const argv = qemuArgv({ ...base, profile, seed: '/g/vm/cloud-seed.iso' });
    assert.ok(all(argv, '-drive').includes('file=/g/vm/cloud-seed.iso,if=none,id=seed,format=raw,readonly=on'));
    assert.ok(all(argv, '-device').includes('virtio-blk-pci,drive=seed,serial=cidata'));
  }
  assert.ok(!qemuArgv(base).join(' ').includes('seed'));
});

test("volumes: a raw block node each, in its slot's root port (virtio) or AHCI port (legacy), with the volume's name as serial", () => {
  const disks = [{ slot: 2, file: '/p/custom/data/disk.raw', serial: 'data' }];
  const virtio = qemuArgv({ ...base, disks });
  assert.deepEqual(all(virtio, '-blockdev'), ['driver=raw,node-name=vol2,discard=unmap,file.driver=file,file.filename=/p/custom/data/disk.raw']);
  assert.ok(all(virtio, '-device').includes('virtio-blk-pci,id=dev-vol2,drive=vol2,bus=hp2,serial=data'));
  assert.ok(all(qemuArgv({ ...base, profile: 'legacy', disks }), '-device').includes('ide-hd,id=dev-vol2,drive=vol2,bus=ide.3,serial=data'));
});

test('KVM takes the CPU model it is given', () => {
  assert.equal(after(qemuArgv({ ...base, accel: { accel: 'kvm', cpu: 'host' } }), '-cpu'), 'host');
});

test('NICs: a tap each, virtio-net or e1000 by profile, with the MAC the plan gave', () => {
  const nics = [{ tap: 'lvabc1x0', mac: '02:00:00:00:00:01', address: '10.1.0.5/24', gateway: '10.1.0.1' }];
  const virtio = qemuArgv({ ...base, nics });
  assert.match(after(virtio, '-append')!, / LODGE_NIC0=10\.1\.0\.5\/24,10\.1\.0\.1$/);
  assert.deepEqual(all(virtio, '-netdev'), ['tap,id=nic0,ifname=lvabc1x0,script=no,downscript=no']);
  assert.ok(all(virtio, '-device').includes('virtio-net-pci,netdev=nic0,mac=02:00:00:00:00:01'));
  assert.ok(all(qemuArgv({ ...base, profile: 'legacy', nics }), '-device').includes('e1000,netdev=nic0,mac=02:00:00:00:00:01'));
});
