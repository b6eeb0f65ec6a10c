/**
 * vm guests beyond direct kernel boot, on real QEMU under TCG: the busybox-iso boots
 * through SeaBIOS and GRUB; a qcow2 disk boots from its MBR; the two device profiles give
 * the guest the devices they name; the accelerator is probed and explained; imports of
 * broken disks and ISOs are refused whole; a guest's QEMU cannot read another guest's
 * disk; a kernel the cache lost is fetched again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, openSync, writeSync, readdirSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { consoleExpect, guestPid, requireProgram, TestDaemon } from './harness.js';

const d = new TestDaemon();
before(async () => {
  requireProgram('/usr/bin/qemu-system-x86_64', 'qemu-system-x86');
  await d.start();
  await d.buildBusybox();
  const build = d.lodge(['image', 'build', 'busybox-iso']);
  assert.equal(build.code, 0, build.stderr);
});
after(() => d.cleanup());

const onConsole = (name: string, command: string, pattern: RegExp) => consoleExpect(d, name, `${command}\n`, pattern, 90_000, 2000);
const info = async (name: string) => d.client.guests.get(name);
const iso = () => path.join(d.stateDir, 'images/busybox-iso/image.iso');
/** Virtio devices the guest sees, and its AHCI controllers (PCI class 0x010601). */
const devices = 'echo V=$(ls /sys/bus/virtio/devices | wc -l)/A=$(grep -l 0x010601 /sys/bus/pci/devices/*/class | wc -l)/K=$(uname -r)/end';
const deviceCounts = /V=(\d+)\/A=(\d+)\/K=([^/\s]+)\/end/;
const work = path.join('/tmp', `lodge-vm-images-${process.pid}`);

test('the busybox ISO boots through SeaBIOS and GRUB to a shell, on the legacy profile', { timeout: 300_000 }, async () => {
  const launch = d.lodge(['launch', 'busybox-iso', 'live', '--kind', 'vm']);
  assert.equal(launch.code, 0, launch.stderr);
  const [, virtio, ahci, release] = deviceCounts.exec(await onConsole('live', devices, deviceCounts))!;
  assert.equal(virtio, '0', 'no virtio device on the legacy profile');
  assert.equal(ahci, '1', 'the AHCI controller holds the cdrom and the disk');
  assert.match(release!, /-cloud-amd64$/, 'the kernel that the ISO carries');
  assert.match(d.lodge(['console', 'live', '--log']).stdout, /Booting `Lodge busybox \(live\)'/, 'GRUB ran');
  const machine = (await info('live')).machine!;
  assert.equal(machine.boot, 'firmware');
  assert.equal(machine.profile, 'legacy');
  const argv = execFileSync('cat', [`/proc/${await guestPid(d, 'live')}/cmdline`]).toString().split('\0');
  assert.ok(!argv.includes('-kernel'), 'no direct kernel boot');
  assert.ok(argv.some((a) => a.startsWith(`file=${iso()},`) && a.includes('media=cdrom,readonly=on')), 'the image ISO is the read-only cdrom');
  const rfb = await new Promise<string>((resolve, reject) => {
    const s = connect(machine.vncSocket!);
    s.once('data', (b) => (resolve(b.toString()), s.destroy()));
    s.once('error', reject);
  });
  assert.equal(rfb, 'RFB 003.008\n', 'a VNC server shows the VGA screen on the unix socket');
  const stop = d.lodge(['stop', 'live', '--timeout', '60']);
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(d.lodge(['console', 'live', '--log']).stdout, /reboot: Power down/, 'the ACPI power button shut it down');
  assert.equal(d.lodge(['delete', 'live']).code, 0);
});

test('a qcow2 disk imported as an image boots from its MBR through the firmware', { timeout: 300_000 }, async () => {
  rmSync(work, { recursive: true, force: true });
  execFileSync('mkdir', ['-p', work]);
  // grub-mkrescue makes a hybrid ISO: its first sector is also an MBR, so as a disk it boots too
  const disk = path.join(work, 'live.qcow2');
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', iso(), disk]);
  execFileSync('qemu-img', ['resize', '-q', disk, '100M']);
  const imported = d.lodge(['image', 'import', disk, 'live-disk']);
  assert.equal(imported.code, 0, imported.stderr);
  const image = (await d.client.images.list()).find((i) => i.name === 'live-disk')!;
  assert.equal(image.format, 'qcow2');
  const base = path.join(d.stateDir, 'images/live-disk/disk.qcow2');
  assert.equal(statSync(base).mode & 0o777, 0o444, 'the imported disk is a read-only base');
  assert.equal(d.lodge(['launch', 'live-disk', 'fromdisk', '--kind', 'vm']).code, 0);
  await onConsole('fromdisk', 'echo disk-$((6*7))', /disk-42/);
  const overlay = /file=([^,]+)/.exec(execFileSync('cat', [`/proc/${await guestPid(d, 'fromdisk')}/cmdline`]).toString().split('\0').find((a) => a.includes('id=root'))!)![1]!;
  const backing = (JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', overlay]).toString()) as { 'backing-filename': string })['backing-filename'];
  assert.equal(backing, base, "the guest's disk is an overlay of the imported one");
  assert.match(d.lodge(['launch', 'live-disk', 'ctdisk']).stderr, /image: live-disk is a qcow2 disk, which ct guests do not boot \(--kind vm\)/);
  assert.equal(d.lodge(['delete', '--force', 'fromdisk']).code, 0);
});

test('device profiles on a Linux image: virtio devices, or an AHCI disk and only the guest agent port on virtio; the accelerator as asked', { timeout: 300_000 }, async () => {
  assert.equal(d.lodge(['launch', 'busybox', 'pvirtio', '--kind', 'vm']).code, 0);
  const legacy = d.lodge(['launch', 'busybox', 'plegacy', '--kind', 'vm', '--profile', 'legacy', '--accel', 'tcg']);
  assert.equal(legacy.code, 0, legacy.stderr);
  const [, virtio, , cloud] = deviceCounts.exec(await onConsole('pvirtio', devices, deviceCounts))!;
  assert.ok(Number(virtio) >= 3, `disk, balloon and rng on virtio (${virtio})`);
  assert.match(cloud!, /-cloud-amd64$/);
  const [, agentPort, ahci, generic] = deviceCounts.exec(await onConsole('plegacy', devices, deviceCounts))!;
  assert.equal(agentPort, '1', 'the one virtio device of the legacy profile is the guest agent port');
  assert.equal(ahci, '1');
  assert.match(generic!, /^\d\S*-amd64$/);
  assert.doesNotMatch(generic!, /cloud/, "the generic kernel: the cloud one has no AHCI driver");
  await onConsole('plegacy', 'echo root-$(sed -n "s| / ext4.*||p" /proc/mounts)', /root-\/dev\/sda\b/);
  let viaAgent: string | undefined;
  for (let i = 0; i < 10 && viaAgent === undefined; i++) viaAgent = await d.client.guests.exec('plegacy', { command: ['uname', '-r'] }).then((r) => r.stdout, () => undefined);
  assert.equal(viaAgent, `${generic}\n`, 'lodge exec reaches the agent on the legacy profile too');
  const auto = (await info('pvirtio')).machine!;
  // what auto chose must be what its reason says; the reason depends on the host (no /dev/kvm, a nested KVM, a fast one)
  assert.match(auto.accelReason, auto.accel === 'kvm' ? /^auto: KVM ran the probe guest in [\d.]+ s, TCG in/ : /^auto: (\/dev\/kvm (is missing|cannot be opened)|KVM (ran the probe guest in|failed the probe))/);
  assert.ok(auto.stats && auto.stats.vcpuSeconds > 0 && auto.stats.diskReadBytes > 0, 'QMP counters');
  assert.equal((await info('plegacy')).machine!.accelReason, 'asked for (--accel tcg)');
  const shown = d.lodge(['info', 'pvirtio']).stdout;
  assert.match(shown, new RegExp(`Accelerator:\\s+${auto.accel} \\(auto: `));
  assert.match(shown, /Devices:\s+virtio profile, direct kernel boot/);
  assert.match(d.lodge(['launch', 'busybox', 'bad', '--kind', 'vm', '--accel', 'fast']).stderr, /--accel: "fast" is not auto, kvm or tcg/);
  assert.match(d.lodge(['launch', 'busybox', 'bad', '--profile', 'legacy']).stderr, /options.profile: applies to vm guests only, not ct/);
});

test("a guest's QEMU cannot reach another guest's files", async () => {
  const uidOf = async (name: string) => statSync(`/proc/${await guestPid(d, name)}`).uid;
  const [a, b] = [await uidOf('pvirtio'), await uidOf('plegacy')];
  assert.notEqual(a, b, 'each guest has its own uid');
  const diskOf = async (name: string) => /file=([^,]+)/.exec(execFileSync('cat', [`/proc/${await guestPid(d, name)}/cmdline`]).toString().split('\0').find((x) => x.includes('id=root'))!)![1]!;
  const other = await diskOf('plegacy');
  const read = spawnSync('setpriv', [`--reuid=${a}`, `--regid=${a}`, '--clear-groups', 'head', '-c', '1', other]);
  assert.notEqual(read.status, 0, 'reading the other guest\'s disk fails');
  assert.match(read.stderr.toString(), /Permission denied/);
  // the disk is its QEMU's alone; the root volume's directory is root's, for no engine may make files (or btrfs subvolumes) in a pool
  assert.deepEqual({ mode: statSync(other).mode & 0o777, uid: statSync(other).uid }, { mode: 0o600, uid: b });
  assert.deepEqual({ mode: statSync(path.dirname(other)).mode & 0o777, uid: statSync(path.dirname(other)).uid }, { mode: 0o711, uid: 0 });
  for (const name of ['pvirtio', 'plegacy']) assert.equal(d.lodge(['delete', '--force', name]).code, 0);
});

test('imports of broken disks and ISOs are refused with the reason, and leave nothing', async () => {
  const cases: Array<[string, (file: string) => void, string[], RegExp]> = [
    ['truncated.iso', (f) => { copyFileSync(iso(), f); truncateSync(f, Math.floor(statSync(f).size / 2)); }, [], /truncated ISO: its volume descriptor says \d+ bytes, the file has \d+/],
    ['truncated.qcow2', (f) => { execFileSync('qemu-img', ['convert', '-O', 'qcow2', iso(), f]); truncateSync(f, Math.floor(statSync(f).size / 2)); }, [], /the qcow2 image is corrupt \(qemu-img check: \d+ errors were found on the image\)/],
    ['header.qcow2', (f) => { execFileSync('qemu-img', ['convert', '-O', 'qcow2', iso(), f]); const fd = openSync(f, 'r+'); writeSync(fd, Buffer.alloc(8, 0xff), 0, 8, 0x30); closeSync(fd); }, [], /not a valid qcow2 image: Reference count table offset invalid/],
    ['backed.qcow2', (f) => execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', '/etc/shadow', f, '1M']), [], /has a backing file \(\/etc\/shadow\): flatten it first/],
    ['noise.bin', (f) => writeFileSync(f, Buffer.alloc(40_000, 7)), [], /not a tarball, a qcow2 disk or an ISO \(import a raw disk as format raw: lodge image import --type raw\)/],
    ['blank.img', (f) => writeFileSync(f, Buffer.alloc(1 << 20)), ['--type', 'raw'], /not a bootable raw disk: no boot signature/],
  ];
  const before = d.lodge(['image', 'list', '--format', 'json']).stdout;
  for (const [file, make, flags, error] of cases) {
    const f = path.join(work, file);
    make(f);
    const r = d.lodge(['image', 'import', f, 'broken', ...flags]);
    assert.equal(r.code, 1, file);
    assert.match(r.stderr, error, file);
  }
  assert.equal(d.lodge(['image', 'list', '--format', 'json']).stdout, before, 'no image was added');
  assert.deepEqual(readdirSync(path.join(d.stateDir, 'images')).sort(), ['busybox', 'busybox-iso', 'live-disk'], 'no staging directory is left');
  assert.deepEqual(readdirSync(path.join(d.stateDir, 'tmp')), [], 'no upload is left');
  const small = d.lodge(['launch', 'live-disk', 'small', '--kind', 'vm', '--disk', '64M']);
  assert.match(small.stderr, /limits\.disk: 64M is smaller than the disk of image live-disk \(100M\)/);
  assert.equal((await d.client.guests.list()).length, 0, 'no guest is left');
  assert.deepEqual(readdirSync(path.join(d.stateDir, 'guests')), [], 'no overlay is left');
});

test('a vm kernel that the cache lost is fetched again at the next start', { timeout: 300_000 }, async () => {
  assert.equal(d.lodge(['launch', 'busybox', 'refetch', '--kind', 'vm', '--no-start']).code, 0);
  const kernels = '/var/cache/lodge/kernels';
  const cloud = readdirSync(kernels).find((k) => k.endsWith('-cloud-amd64'))!;
  const vmlinuz = path.join(kernels, cloud, 'boot', `vmlinuz-${cloud}`);
  renameSync(vmlinuz, `${vmlinuz}.away`);
  try {
    const start = d.lodge(['start', 'refetch']);
    assert.equal(start.code, 0, start.stderr);
    assert.ok(existsSync(vmlinuz), 'the kernel is back in the cache');
    await onConsole('refetch', 'echo again-$((3*3))', /again-9/);
  } finally {
    if (!existsSync(vmlinuz)) renameSync(`${vmlinuz}.away`, vmlinuz);
    rmSync(`${vmlinuz}.away`, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
  assert.equal(d.lodge(['delete', '--force', 'refetch']).code, 0);
});
