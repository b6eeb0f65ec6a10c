/**
 * What an administrator does every hour, through the CLI, on busybox containers (cheap):
 * a list filtered and with chosen columns, its addresses in JSON too; a rename; a guest's
 * settings shown and edited in $EDITOR (a script here); a stop of a guest that ignores its
 * stop signal (an init of its own that traps it), counted down on a terminal and recorded
 * as killed; lodge monitor's lines.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { chmodSync, createReadStream, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Guest } from '../../src/api/guests.js';
import { assertExecStreams, guestPid, hostCgroup, lodgeBin, TestDaemon, waitForState } from './harness.js';

const d = new TestDaemon({ netns: true, args: ['--autostart-delay', '0.5'] });

/** The first launch, through the CLI on a lodged without images: what it said. */
let firstLaunch: { code: number; stdout: string; stderr: string };

before(async () => {
  await d.start();
  firstLaunch = d.lodge(['launch', 'busybox', 'web1']);
  await Promise.all([d.launch('web2'), d.launch('db1', { start: false, networks: [] })]);
});

after(() => d.cleanup());

/** The CLI, which must succeed. */
function lodge(...args: string[]): string {
  const r = d.lodge(args);
  assert.equal(r.code, 0, `lodge ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('lodge list filters by name, kind, state, image and network, shows addresses and the columns chosen', async () => {
  const web1 = (await d.client.guests.get('web1')).nics![0]!.address.split('/')[0]!;
  const table = lodge('list', 'web*', 'state=running', '-c', 'n4N').trim().split('\n');
  assert.deepEqual(table[0]!.split(/\s+/), ['NAME', 'IPV4', 'NETWORKS']);
  assert.equal(table.length, 3);
  assert.match(table[1]!, new RegExp(`^web1\\s+${web1.replace(/\./g, '\\.')} \\(eth0\\)\\s+default$`));

  const json = JSON.parse(lodge('list', 'network=default', 'kind=ct', 'image=busybox', '--format', 'json')) as Guest[];
  assert.deepEqual(json.map((g) => g.name), ['web1', 'web2']);
  assert.equal(json[0]!.nics![0]!.address.split('/')[0], web1);

  assert.deepEqual(lodge('list', 'db', '-c', 'name,state').trim().split('\n').slice(1).map((l) => l.split(/\s+/)), [['db1', 'stopped']]);
  assert.equal(lodge('list', 'state=paused', '-c', 'n').trim(), 'NAME');

  const bad = d.lodge(['list', 'kind=lxc']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /filter "kind=lxc": kind is ct, vm, pv/);
  const column = d.lodge(['list', '-c', 'nz']);
  assert.match(column.stderr, /--columns: "z" is not a column/);
  // the API refuses a wrong filter too, naming it
  await assert.rejects(d.client.guests.list({ state: 'up' as 'running' }), /state/);
});

test('lodge rename moves a stopped guest whole (address, snapshot, schedule, DNS name, /etc/hostname); a running one and a bad name are refused', async () => {
  const before = await d.client.guests.get('web2');
  const running = d.lodge(['rename', 'web2', 'shop']);
  assert.equal(running.code, 1);
  assert.match(running.stderr, /cannot rename web2: it is running.*stop it first \(lodge stop web2\)/);

  lodge('stop', 'web2', '--timeout', '10');
  await d.done(await d.client.snapshots.create('web2', { name: 'first' }));
  await d.client.schedules.snapshots('web2', { every: '1d', keep: 2 });
  const bad = d.lodge(['rename', 'web2', 'Shop_1']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /name/);
  const taken = d.lodge(['rename', 'web2', 'web1']);
  assert.match(taken.stderr, /a guest named web1 exists already/);

  const r = d.lodge(['rename', 'web2', 'shop']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /web2 is now shop/);
  await assert.rejects(d.client.guests.get('web2'), /not found/);
  const after = await d.client.guests.get('shop');
  assert.deepEqual(after.nics, before.nics);
  assert.deepEqual((await d.client.snapshots.list('shop')).map((s) => s.name), ['first']);
  assert.deepEqual((await d.client.schedules.list('shop')).map((s) => s.guest), ['shop']);

  lodge('start', 'shop');
  assert.equal(lodge('exec', 'shop', '--', 'cat', '/etc/hostname').trim(), 'shop');
  assert.equal(lodge('exec', 'shop', '--', 'hostname').trim(), 'shop');
  // the network's DNS answers for the new name, with the address the guest kept
  assert.match(lodge('exec', 'web1', '--', 'nslookup', 'shop'), new RegExp(after.nics![0]!.address.split('/')[0]!.replace(/\./g, '\\.')));
  await d.client.schedules.remove('shop', 'snapshot');
});

/** An $EDITOR that replaces `from` with `to` in the file it is given. */
function editor(name: string, from: string, to: string): string {
  const file = path.join(d.dir, name);
  writeFileSync(file, `#!/bin/sh\nsed -i 's/${from}/${to}/' "$1"\n`);
  chmodSync(file, 0o755);
  return file;
}

test('lodge config show prints the settings as YAML or JSON; config edit applies a change live and refuses a bad one whole', async () => {
  const shown = JSON.parse(lodge('config', 'show', 'web1', '--format', 'json')) as Record<string, unknown>;
  assert.deepEqual(shown, { name: 'web1', kind: 'ct', image: 'busybox', options: {}, networks: ['default'], limits: {}, restart: 'no', autonomic: 'on', priority: 'normal', autostart: false, autostartOrder: 0 });
  assert.match(lodge('config', 'show', 'web1'), /^name: web1\nkind: ct\n[^]*^limits: \{\}\nrestart: no$/m);

  const bad = d.lodge(['config', 'edit', 'web1'], '', { EDITOR: editor('bad', '^limits: {}$', 'limits: { memory: 300M, processes: lots }') });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /limits\.processes: "lots" is not a whole number of at least 1; nothing was changed \(the edit is kept in \S+web1\.yaml: run lodge config edit web1 again\)/);
  assert.deepEqual((await d.client.guests.get('web1')).limits, {});
  const kind = d.lodge(['config', 'edit', 'web1'], '', { EDITOR: editor('kind', '^kind: ct$', 'kind: vm') });
  assert.match(kind.stderr, /kind: cannot change here: it is set at launch; nothing was changed/);

  const good = d.lodge(['config', 'edit', 'web1'], '', { EDITOR: editor('good', '^limits: {}$', 'limits: { memory: 300M, processes: 50 }') });
  assert.equal(good.code, 0, good.stderr);
  assert.equal(good.stderr, 'web1: memory 300M: changed\nweb1: processes 50: changed\n');
  assert.deepEqual((await d.client.guests.get('web1')).limits, { memory: '300M', processes: 50 });
  const cgroup = hostCgroup(await guestPid(d, 'web1'), 'memory');
  assert.equal(Number(readFileSync(`${cgroup}/memory.limit_in_bytes`, 'utf8')), 300 * 1024 * 1024, 'the running guest has it at once');
  assert.equal(d.lodge(['config', 'edit', 'web1'], '', { EDITOR: 'true' }).stderr, 'web1: nothing changed\n');
  const autostart = d.lodge(['config', 'edit', 'db1'], '', { EDITOR: editor('auto', '^autostart: false$', 'autostart: true') });
  assert.equal(autostart.stderr, 'db1: autostart on: changed\n');
  assert.equal((await d.client.guests.get('db1')).autostart, true);
});

test('lodge stop of a guest that ignores its stop signal counts down on a terminal and records that it was killed after the timeout', async () => {
  // busybox's rootfs with an init that ignores SIGTERM
  const scripts = path.join(d.dir, 'deaf');
  mkdirSync(scripts);
  writeFileSync(path.join(scripts, 'deaf'), "#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 1; done\n");
  chmodSync(path.join(scripts, 'deaf'), 0o755);
  const tarball = path.join(d.dir, 'deaf.tar');
  execFileSync('tar', ['-C', path.join(d.stateDir, 'images', 'busybox', 'rootfs'), '-cf', tarball, '.']);
  execFileSync('tar', ['-C', scripts, '-rf', tarball, './deaf']);
  await d.done(await d.client.images.import({ name: 'deaf', init: '/deaf', stopSignal: 'SIGTERM' }, createReadStream(tarball)));
  await d.launch('deaf1', { image: 'deaf', networks: [] });

  // on a terminal (script(1) gives it one) the bar counts down to the kill
  const started = Date.now();
  const tty = spawnSync('script', ['-qec', `stty cols 200; ${process.execPath} ${lodgeBin} stop deaf1 --timeout 2`, '/dev/null'], { env: { ...process.env, LODGE_SOCKET: d.socket }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(tty.status, 0, tty.stdout);
  assert.ok(Date.now() - started >= 2000, 'it was given its timeout');
  assert.match(tty.stdout, /asking init to stop \(SIGTERM\) for 2 s: killed in [12] s/);
  assert.match(tty.stdout, /deaf1 is stopped \(killed after the timeout: it had not shut down 2 s after it was asked\)/);
  const g = await d.client.guests.get('deaf1');
  assert.deepEqual([g.state, g.stateReason], ['stopped', 'killed after the timeout: it had not shut down 2 s after it was asked']);
  const op = (await d.client.operations.list()).find((o) => o.action === 'guest.stop' && o.target === 'deaf1')!;
  assert.deepEqual([op.status, op.result], ['success', 'killed after the timeout: it had not shut down 2 s after it was asked']);
  // a guest that stops when asked says so, without a result
  lodge('stop', 'web1');
  assert.equal((await d.client.guests.get('web1')).stateReason, 'stopped on request');
  await d.client.guests.delete('deaf1', true).then((o) => d.done(o));
});

test('lodge monitor prints one JSON object per line', async () => {
  const monitor = spawn(process.execPath, [lodgeBin, 'monitor'], { env: { ...process.env, LODGE_SOCKET: d.socket }, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    monitor.stdout.on('data', (b: Buffer) => (out += b.toString()));
    // the watch is on once an event it is sent arrives: poke until one does
    for (let i = 0; i < 50 && !out.includes('\n'); i++) {
      await d.client.guests.update('db1', { restart: i % 2 ? 'no' : 'always' });
      await new Promise((r) => setTimeout(r, 100));
    }
    const lines = out.trim().split('\n');
    assert.ok(lines.length >= 1, 'an event arrived');
    for (const line of lines) assert.equal((JSON.parse(line) as { target: string }).target, 'db1');
  } finally {
    monitor.kill();
  }
});

test("lodge launch of one of Lodge's own images builds it first; through the API, a missing image is hinted by its own build command; image list --available says what Lodge builds; xz and zstd rootfs tarballs import", async () => {
  assert.equal(firstLaunch.code, 0, firstLaunch.stderr);
  assert.match(firstLaunch.stderr, /^Image busybox is not built here: building it first \(lodge image build busybox\)\n[^]*web1 is running\n$/);
  await assert.rejects(d.client.guests.launch({ name: 'v1', image: 'busybox-iso', kind: 'vm' }), /image busybox-iso not found: it is not built yet: lodge image build busybox-iso makes it/);
  assert.match(d.lodge(['launch', 'alpine', 'a1']).stderr, /image alpine not found: lodge image list shows what there is, lodge image list --available what Lodge builds/);
  const available = JSON.parse(lodge('image', 'list', '--available', '--format', 'json')) as Array<{ name: string; built: boolean }>;
  assert.deepEqual(available.map((a) => [a.name, a.built]), [['busybox', true], ['debian/12', false], ['debian/12-cloud', false], ['busybox-iso', false]]);
  assert.match(lodge('image', 'list', '--available'), /^busybox-iso\s+no \(lodge image build busybox-iso\)\s+vm\s+a live ISO/m);

  const tarball = path.join(d.dir, 'rootfs.tar');
  execFileSync('tar', ['-C', path.join(d.stateDir, 'images', 'busybox', 'rootfs'), '-cf', tarball, '.']);
  execFileSync('xz', ['-k', '-T1', '-1', tarball]);
  execFileSync('zstd', ['-q', '-k', tarball, '-o', `${tarball}.zst`]);
  for (const [file, name] of [[`${tarball}.xz`, 'bb-xz'], [`${tarball}.zst`, 'bb-zst']] as const) {
    const r = d.lodge(['image', 'import', file, name, '--stop-signal', 'SIGUSR2']);
    assert.equal(r.code, 0, r.stderr);
  }
  await d.launch('fromxz', { image: 'bb-xz', networks: [] });
  assert.equal(lodge('exec', 'fromxz', '--', 'cat', '/etc/hostname').trim(), 'fromxz');
  assert.equal((await d.client.images.list()).find((i) => i.name === 'bb-zst')?.format, 'rootfs');
  await d.client.guests.delete('fromxz', true).then((o) => d.done(o));
});

test('lodge exec streams: lines as they are written, 50 MB through stdin and back, Ctrl-C to the command, 127 for a missing one, no -- needed', async () => {
  if ((await d.client.guests.get('web1')).state !== 'running') lodge('start', 'web1');
  await assertExecStreams(d, 'web1');
});

/** Every process of this test's lodged's guests (their cgroups) and of its engines and helpers (their command lines name its state): a host going down. */
function killEveryGuestProcess(pids: number[]): void {
  const victims = new Set<number>();
  for (const pid of pids) {
    for (const p of readFileSync(path.join(hostCgroup(pid, 'pids'), 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) victims.add(Number(p));
  }
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    const cmdline = (() => {
      try {
        return readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    })();
    if (cmdline.includes(d.stateDir)) victims.add(Number(entry));
  }
  for (const pid of victims) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // ended already
    }
  }
}

test('after a simulated host reboot (lodged and every guest process killed), lodged starts the --autostart guests that were running, in their order; the others stay stopped', async () => {
  lodge('launch', 'busybox', 'late', '--autostart', '--autostart-order', '5', '--network', 'none');
  lodge('launch', 'busybox', 'early', '--autostart', '--autostart-order', '1', '--network', 'none');
  lodge('launch', 'busybox', 'plain', '--network', 'none');
  lodge('launch', 'busybox', 'parked', '--autostart', '--network', 'none');
  lodge('stop', 'parked', '--force');
  assert.match(lodge('info', 'early'), /Autostart:\s+on \(order 1\)/);
  const running = (await d.client.guests.list()).filter((g) => g.state === 'running');
  const pids = await Promise.all(running.map((g) => guestPid(d, g.name)));
  await d.kill9();
  killEveryGuestProcess(pids);
  await d.start();
  for (const name of ['early', 'late']) await waitForState(d, name, 'running', 30_000);
  const states = Object.fromEntries((await d.client.guests.list()).map((g) => [g.name, g.state]));
  assert.deepEqual([states.plain, states.parked, states.web1, states.db1], ['stopped', 'stopped', 'stopped', 'stopped'], 'no autostart, or stopped by its admin (db1 has autostart): left stopped');
  const starts = (await d.client.operations.list()).filter((o) => o.action === 'guest.autostart');
  assert.deepEqual(starts.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).map((o) => [o.target, o.status]), [['early', 'success'], ['late', 'success']]);
  assert.match(d.stderr, /autostart: early, late, in this order, 0.5 s apart/);
  assert.equal(lodge('exec', 'late', '--', 'hostname').trim(), 'late');
  // a bad order is refused at the flag, and a set turns it off
  assert.match(d.lodge(['set', 'late', '--autostart-order', '1001']).stderr, /--autostart-order: "1001" is not a whole number from 0 to 1000/);
  assert.match(lodge('set', 'late', '--autostart', 'off') + d.lodge(['info', 'late']).stdout, /Autostart:\s+off/);
});
