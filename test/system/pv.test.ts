/**
 * What only paravirtual guests on real User-Mode Linux have: the UML kernel with the memory
 * asked for and its modules; the agent behind exec; the mconsole; a base per UML that a
 * guest's COW file pins, and what happens when it is broken, made again or gone. (What
 * every kind does, pv included: conformance.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type * as UnixDgram from 'unix-dgram';
import { Mconsole } from '../../src/drivers/pv/mconsole.js';
import { assertExecStreams, cgroupCpuSeconds, consoleExpect, guestPid, hostCgroup, requireProgram, TestDaemon, waitForState } from './harness.js';

const d = new TestDaemon();
/** An image's pv base, named by what it is made from (this UML and its modules). */
const pvBase = (image: string) => {
  const dir = path.join(d.stateDir, 'images', image);
  const [name] = readdirSync(dir).filter((f) => /^rootfs\.uml-[0-9a-f]{12}\.ext4$/.test(f));
  if (!name) throw new Error(`no pv base in ${dir}: ${readdirSync(dir).join(' ')}`);
  return path.join(dir, name);
};
const kernel = '/usr/bin/linux.uml';
before(async () => {
  requireProgram(kernel, 'user-mode-linux');
  await d.start();
  await d.buildBusybox();
});
after(() => d.cleanup());

/** Types `command` on the console (again until the shell has started) and waits for `pattern`. */
const onConsole = (name: string, command: string, pattern: RegExp) => consoleExpect(d, name, `${command}\n`, pattern, 30_000, 1500);

const consoleLog = (name: string) => d.lodge(['console', name, '--log']).stdout;

test('a pv guest boots the UML kernel to a shell, with the memory asked for and its modules', async () => {
  const launch = d.lodge(['launch', 'busybox', 'pv1', '--kind', 'pv', '--memory', '96M']);
  assert.equal(launch.code, 0, launch.stderr);
  const umlVersion = /(\d+\.\d+\.\d+)/.exec(execFileSync(kernel, ['--version']).toString())![1]!;
  const out = await onConsole('pv1', 'echo "R=$(uname -r) H=$(hostname) M=$(sed -n "s/MemTotal: *//p" /proc/meminfo) L=$(ls /lib/modules)"', /R=\S+ H=\S+ M=\d+ kB L=\S+/);
  const [, release, host, memKb, modules] = /R=(\S+) H=(\S+) M=(\d+) kB L=(\S+)/.exec(out)!;
  assert.equal(release, umlVersion, 'the guest runs the UML kernel, not the host one');
  assert.notEqual(release, execFileSync('uname', ['-r']).toString().trim());
  assert.equal(host, 'pv1');
  // the kernel gets exactly what was asked: its boot lines give the total, of which UML adds a gap of its own
  const boot = consoleLog('pv1');
  const gap = Number(/Adding (\d+) bytes to physical memory to account for exec-shield gap/.exec(boot)?.[1] ?? 0);
  const totalKb = Number(/Memory: \d+K\/(\d+)K available/.exec(boot)![1]);
  assert.equal(totalKb - gap / 1024, 96 * 1024);
  const mem = Number(memKb) / 1024;
  assert.ok(mem > 48 && mem <= 96, `MemTotal fits in 96M (${mem.toFixed(1)}M)`);
  assert.equal(modules, umlVersion, "the UML kernel's modules are in the guest");
  const info = d.lodge(['info', 'pv1']).stdout;
  assert.match(info, /Kind:\s+pv/);
  assert.match(info, /Engine:\s+User-Mode Linux/);
  // the UML processes run in the guest's cgroup, as an unprivileged user
  const pid = await guestPid(d, 'pv1');
  const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  assert.ok(uid >= 1_200_000, `linux.uml runs as an unprivileged uid (${uid})`);
  const memLimit = Number(readFileSync(`${hostCgroup(pid, 'memory')}/memory.limit_in_bytes`, 'utf8'));
  assert.equal(memLimit, (96 + 64) * 1024 * 1024, 'the cgroup caps the guest memory plus UML overhead');
});

test('exec through the API goes through its agent, which leaves nothing of the exchange behind', async () => {
  const r = await d.client.guests.exec('pv1', { command: ['sh', '-c', 'uname -r; exit 4'] });
  assert.equal(r.exitCode, 4, r.stderr);
  assert.equal(r.stdout, `${/(\d+\.\d+\.\d+)/.exec(execFileSync(kernel, ['--version']).toString())![1]}\n`, "the guest's own kernel answers");
  const umlDir = readFileSync(`/proc/${await guestPid(d, 'pv1')}/cmdline`, 'utf8').split('\0').find((a) => a.startsWith('uml_dir='))!.slice(8);
  // UML's directory (engine/) sits beside the exchange, in the guest's root-owned pv/
  const agent = path.join(path.dirname(umlDir), 'agent');
  assert.deepEqual(readdirSync(path.join(agent, 'requests')), []);
  assert.deepEqual(readdirSync(path.join(agent, 'responses')), []);
});

test('lodge exec streams in a pv guest through lodge-execd on its second serial line, as in a container', { timeout: 300_000 }, async () => {
  // 50 MB each way, as in the other kinds: some 95 s here, UML's kernel busy a whole core moving about 1 MB a second
  // on its serial line (its chan_interrupt, arch/um/drivers/chan_kern.c, reads the host fd one byte per read())
  await assertExecStreams(d, 'pv1');
});

test("an idle pv guest costs the host next to nothing: its agent waits without starting a process", { timeout: 120_000 }, async () => {
  assert.equal(d.lodge(['exec', 'pv1', '--', 'true']).code, 0, 'its agent answers');
  const cgroup = hostCgroup(await guestPid(d, 'pv1'), 'pids');
  const before = cgroupCpuSeconds(cgroup);
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 30_000));
  const share = (cgroupCpuSeconds(cgroup) - before) / ((Date.now() - t0) / 1000);
  // a sleep forked ten times a second kept it at 3-4 % of a core; waiting on a FIFO, under 1 %
  assert.ok(share < 0.02, `the idle guest used ${(share * 100).toFixed(1)} % of a core over 30 s`);
  assert.equal(d.lodge(['exec', 'pv1', '--', 'true']).code, 0, 'and still answers');
});

test('the mconsole client speaks to the real guest: version, config, sysrq, disk hot-plug', async () => {
  const unix = createRequire(import.meta.url)('unix-dgram') as typeof UnixDgram;
  const pid = await guestPid(d, 'pv1');
  const umlDir = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').find((a) => a.startsWith('uml_dir='))!.slice(8);
  const mc = new Mconsole(path.join(umlDir, 'uml', 'mconsole'), d.dir, unix);
  assert.match(await mc.version(), /6\.\d+\.\d+/);
  assert.match(await mc.config('ubd0'), /root\.cow,.*rootfs\.uml-[0-9a-f]{12}\.ext4/);
  assert.match(await mc.sysrq('7'), /sysrq: Changing Loglevel[\s\S]*Loglevel set to 7/);
  // hot-plug: a second disk appears in the running guest, and goes again
  const disk = path.join(d.dir, 'extra.img');
  execFileSync('truncate', ['-s', '8M', disk]);
  execFileSync('chown', [String(Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1])), disk]);
  await mc.config('ubd1', disk);
  await onConsole('pv1', 'echo "sz=$(cat /sys/block/ubdb/size)"', /sz=16384/);
  await mc.remove('ubd1');
  await onConsole('pv1', 'test -e /sys/block/ubdb && echo still || echo gone-$((1+1))', /gone-2/);
  await assert.rejects(mc.command('no-such-command'), /mconsole no-such-command: /);
});

test("an image's absolute links lead inside it when lodged adds the kernel's modules to its pv base", async () => {
  // lib -> a host directory: the guest sees its own /lib there; lodged, copying the modules in, must too
  const canary = path.join(d.dir, 'canary-lib');
  const tree = path.join(d.dir, 'lib-out');
  mkdirSync(canary);
  mkdirSync(path.join(tree, 'bin'), { recursive: true });
  writeFileSync(path.join(tree, 'bin', 'ok'), 'fine');
  symlinkSync(canary, path.join(tree, 'lib'));
  execFileSync('tar', ['-C', tree, '-cf', path.join(d.dir, 'lib-out.tar'), '.']);
  const imported = d.lodge(['image', 'import', path.join(d.dir, 'lib-out.tar'), 'libout', '--init', '/bin/ok']);
  assert.equal(imported.code, 0, imported.stderr);
  const launched = d.lodge(['launch', 'libout', 'pvlib', '--kind', 'pv', '--no-start']);
  assert.equal(launched.code, 0, launched.stderr);
  assert.deepEqual(readdirSync(canary), [], "the modules went to the image's own /lib");
  assert.equal(d.lodge(['delete', 'pvlib']).code, 0);
  assert.equal(d.lodge(['image', 'delete', 'libout']).code, 0);
});

test('a guest keeps the base its disk was written over (a UML upgraded makes a new one for new guests)', async () => {
  assert.equal(d.lodge(['launch', 'busybox', 'keeper', '--kind', 'pv', '--no-start']).code, 0);
  const current = pvBase('busybox');
  // as if made by an earlier UML: the same bytes and time, under the name of other inputs
  const older = path.join(path.dirname(current), 'rootfs.uml-000000000000.ext4');
  execFileSync('cp', ['-a', current, older]);
  try {
    const cow = path.join((await d.client.guests.get('keeper')).root!.path, 'root.cow');
    assert.equal(d.lodge(['start', 'keeper']).code, 0);
    assert.equal(d.lodge(['stop', 'keeper', '--force']).code, 0);
    const header = readFileSync(cow).subarray(0, 32 + 4096);
    header.fill(0, 32);
    header.write(older, 32);
    writeFileSync(cow, header, { flag: 'r+' });
    assert.equal(d.lodge(['start', 'keeper']).code, 0);
    const ubd0 = readFileSync(`/proc/${await guestPid(d, 'keeper')}/cmdline`, 'utf8').split('\0').find((a) => a.startsWith('ubd0='))!;
    assert.equal(ubd0, `ubd0=${cow},${older}`, 'it boots over the base its disk names');
    await onConsole('keeper', 'echo kept-$((6*7))', /kept-42/);
    assert.equal(d.lodge(['launch', 'busybox', 'newer', '--kind', 'pv', '--no-start']).code, 0);
    assert.equal(d.lodge(['start', 'newer']).code, 0);
    assert.ok(readFileSync(`/proc/${await guestPid(d, 'newer')}/cmdline`, 'utf8').includes(`,${current}`), 'a new guest gets the current base');
  } finally {
    for (const name of ['keeper', 'newer']) d.lodge(['delete', '--force', name]);
    rmSync(older, { force: true });
  }
});

test('bad input: the flag of another kind; a corrupt, remade or missing base disk is reported', { timeout: 180_000 }, async () => {
  assert.match(d.lodge(['launch', 'busybox', 'pvx', '--kind', 'pv', '--privileged']).stderr, /options.privileged: applies to ct guests only, not pv/);
  // a root disk that is not a filesystem: the kernel cannot mount it and ends
  const broken = path.join(d.dir, 'broken');
  execFileSync('cp', ['-a', path.join(d.stateDir, 'images/busybox/rootfs'), broken]);
  execFileSync('tar', ['-C', broken, '-cf', path.join(d.dir, 'broken.tar'), '.']);
  assert.equal(d.lodge(['image', 'import', path.join(d.dir, 'broken.tar'), 'broken']).code, 0);
  assert.equal(d.lodge(['launch', 'broken', 'dies', '--kind', 'pv', '--no-start']).code, 0);
  // its filesystem wiped in place, its size and time kept (the guest's disk, made at its launch, names the base as it was)
  const wiped = statSync(pvBase('broken'));
  writeFileSync(pvBase('broken'), Buffer.alloc(1024 * 1024), { flag: 'r+' });
  utimesSync(pvBase('broken'), wiped.atime, wiped.mtime);
  d.lodge(['start', 'dies']);
  // a panicking UML dumps its stack and aborts: that can take a while
  const g = await waitForState(d, 'dies', 'stopped', 60_000);
  assert.equal(g.state, 'stopped', consoleLog('dies').slice(-1500));
  assert.match(g.stateReason ?? '', /exited with code|killed by signal/);
  assert.match(consoleLog('dies'), /Kernel panic|Unable to mount root|VFS/);
  assert.match(d.lodge(['exec', 'dies', '--', 'true']).stderr, /cannot exec in dies: it is stopped/);
  // a guest's COW file belongs to the base it was written over: Lodge refuses to boot it over another, and says why
  assert.equal(d.lodge(['launch', 'busybox', 'orphan', '--kind', 'pv', '--no-start']).code, 0);
  assert.equal(d.lodge(['start', 'orphan']).code, 0);
  await onConsole('orphan', 'echo booted-$((3*3))', /booted-9/); // its COW file exists once it has booted
  assert.equal(d.lodge(['stop', 'orphan', '--force']).code, 0);
  const base = pvBase('busybox');
  // a base made again in place (a new mtime) is not the one the disk was written over
  const kept = `${base}.kept`;
  execFileSync('cp', ['-a', base, kept]);
  execFileSync('touch', ['-d', `@${Math.floor(Date.now() / 1000) + 5}`, base]);
  const remade = d.lodge(['start', 'orphan']);
  assert.equal(remade.code, 1);
  assert.match(remade.stderr, /cannot start orphan: its disk was written over an earlier base of image busybox, which has been made again since .*; delete the guest and launch it anew/);
  // and a base that is gone is said to be gone
  rmSync(base);
  const refused = d.lodge(['start', 'orphan']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /cannot start orphan: its disk was written over rootfs\.uml-[0-9a-f]{12}\.ext4 of image busybox, which is gone; delete the guest and launch it anew/);
  execFileSync('mv', [kept, base]);
  assert.equal((await d.client.guests.get('orphan')).state, 'stopped');
  assert.equal(d.lodge(['delete', 'orphan']).code, 0);
  assert.equal(d.lodge(['delete', 'dies']).code, 0);
  assert.equal(d.lodge(['delete', '--force', 'pv1']).code, 0);
  assert.ok(!existsSync('/sys/fs/cgroup/memory/lodge') || !spawnSync('ls', ['/sys/fs/cgroup/memory/lodge']).stdout.toString().includes(`${d.instance}-`), 'no cgroup is left');
  assert.deepEqual(d.runtimeContainers(), []);
  assert.equal(spawnSync('pgrep', ['-f', `uml_dir=${d.stateDir}`]).status, 1, 'no UML process is left');
});
