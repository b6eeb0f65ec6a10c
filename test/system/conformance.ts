/**
 * @module The cases every guest kind must pass, each against its real engine: conformance(kind)
 * registers them for one kind, and conformance-ct.test.ts, -pv and -vm each call it. Lifecycle,
 * graceful stop and kill after the timeout, pause and resume, a shared base, adoption after
 * kill -9 of lodged, limits, exec, volumes attached and detached, bad input; and every feature
 * the kind's driver does not declare is refused in one shape, with the driver's reason. A case
 * asks what the driver declares (GET /1.0) instead of which kind it runs; what only the host
 * can see of an engine (where its base is, what its console says at a halt) is in `engines`.
 * The cases share their guests in order, as a user would: g1 from the first to the last.
 * Files: test/system/files.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import type { GuestKind } from '../../src/api/common.js';
import { LodgeError } from '../../src/api/errors.js';
import type { GuestFeature, HostInfo } from '../../src/api/host.js';
import type { Event } from '../../src/api/operations.js';
import { featureActions } from '../../src/drivers/registry.js';
import { consoleExpect, guestPid, hostCgroup, requireProgram, TestDaemon, waitForState } from './harness.js';

interface Layers {
  /** What every guest of the image runs over: a directory or a read-only file. */
  base: string;
  /** What this guest writes: an upper directory, a COW file, an overlay. */
  own: string;
}

/** What the host shows of each kind's engine, where no API says it. */
interface EngineFacts {
  /** The engine's program and its Debian package (runc and busybox: every system test needs them). */
  program?: [string, string];
  /** How `lodge info` names the engine. */
  engine: RegExp;
  /** The console log after a graceful stop: the guest's init shut it down. */
  halted: RegExp;
  /** The shared base and the guest's own layer, as its running engine has them. */
  layers(d: TestDaemon, name: string): Promise<Layers>;
}

const cmdline = async (d: TestDaemon, name: string) => readFileSync(`/proc/${await guestPid(d, name)}/cmdline`, 'utf8').split('\0');

const engines: Record<GuestKind, EngineFacts> = {
  ct: {
    engine: /Engine:\s+runc/,
    // busybox init's shutdown; its last lines may be cut by the container's end
    halted: /The system is going down NOW!|Sent SIG(TERM|KILL) to all processes/,
    async layers(d, name) {
      // the overlay of its root, in its own mount table (none is in the host's)
      const root = readFileSync(`/proc/${await guestPid(d, name)}/mountinfo`, 'utf8')
        .split('\n')
        .find((l) => l.split(' ')[4] === '/')!;
      const options = Object.fromEntries(root.split(' - ')[1]!.split(' ')[2]!.split(',').map((o) => o.split('=') as [string, string]));
      assert.ok(options.lowerdir && options.upperdir, `${name}: its root is an overlay (${root})`);
      return { base: options.lowerdir, own: options.upperdir };
    },
  },
  pv: {
    program: ['/usr/bin/linux.uml', 'user-mode-linux'],
    engine: /Engine:\s+User-Mode Linux/,
    halted: /The system is going down NOW![\s\S]*reboot: System halted/,
    async layers(d, name) {
      const [cow, base] = (await cmdline(d, name)).find((a) => a.startsWith('ubd0='))!.slice(5).split(',');
      return { base: base!, own: cow! };
    },
  },
  vm: {
    program: ['/usr/bin/qemu-system-x86_64', 'qemu-system-x86'],
    engine: /Engine:\s+QEMU emulator version/,
    // the ACPI power button: init shuts down and the kernel powers the machine off
    halted: /The system is going down NOW![\s\S]*reboot: Power down/,
    async layers(d, name) {
      const own = /file=([^,]+)/.exec((await cmdline(d, name)).find((a) => a.startsWith('file='))!)![1]!;
      const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', own]).toString()) as { 'full-backing-filename'?: string; 'backing-filename': string };
      return { base: info['full-backing-filename'] ?? info['backing-filename'], own };
    },
  },
};

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const mib = 1024 * 1024;

/** Fails with `what` instead of waiting for ever on a guest that stopped answering. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it holds, then returns its last value (the caller asserts it). */
async function until<T>(check: () => Promise<T>, holds: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (holds(v) || Date.now() > end) return v;
    await sleep(500);
  }
}

/** Fingerprint of a base: a file's bytes, or a tree's names, sizes, modes and times (an overlay's lower dirs, a:b). */
function fingerprint(base: string): string {
  const hash = createHash('sha256');
  for (const part of base.split(':')) {
    if (statSync(part).isFile()) hash.update(readFileSync(part));
    else hash.update(execFileSync('find', [part, '-printf', '%P %s %m %T@\\n']).toString().split('\n').sort().join('\n'));
  }
  return hash.digest('hex');
}

/** Bytes a file or a tree takes on its filesystem. */
const allocated = (p: string) => Number(execFileSync('du', ['-sk', p]).toString().split('\t')[0]) * 1024;

/** `pool`: the driver of the daemon's default pool, where every root and volume of the run lives (btrfs unless told). */
export function conformance(kind: GuestKind, pool: 'btrfs' | 'dir' = 'btrfs'): void {
  const facts = engines[kind];
  const d = new TestDaemon({ args: ['--default-pool-driver', pool] });
  let driver: HostInfo['drivers'][number];
  const has = (feature: GuestFeature) => driver.features.includes(feature);

  before(async () => {
    if (facts.program) requireProgram(...facts.program);
    await d.start();
    await d.buildBusybox();
    const found = (await d.client.host()).drivers.find((k) => k.kind === kind);
    assert.ok(found?.available, `this lodged runs ${kind} guests: ${found?.engine}`);
    assert.equal((await d.client.storage.get('default')).driver, pool);
    driver = found;
  });
  after(() => d.cleanup());

  const run = (name: string, script: string) => d.client.guests.exec(name, { command: ['sh', '-c', script] });
  const state = (name: string, action: 'start' | 'stop', force = true) => d.client.guests.changeState(name, { action, ...(action === 'stop' ? { force } : {}) }).then((op) => d.done(op));
  const onConsole = (name: string, command: string, pattern: RegExp) => consoleExpect(d, name, `${command}\n`, pattern, 60_000, 2000);
  const consoleLog = (name: string) => d.lodge(['console', name, '--log']).stdout;
  const refused = (code: string, message: RegExp) => (e: unknown) => e instanceof LodgeError && e.code === code && message.test(e.message);

  /** The one refusal of a feature the kind lacks: what was asked, and the driver's reason. */
  const lackMessage = (feature: GuestFeature, guest: string) => `${featureActions[feature]} is not available in ${kind} guests: ${driver.lacks[feature]!.replace(/\bNAME\b/g, guest)}`;
  const lacking = (feature: GuestFeature, guest: string) => new RegExp(`^${escape(lackMessage(feature, guest))}$`);

  /** The least memory a guest of this kind may be given (what its kernel needs, where it boots one). */
  const leastMemory = () => `${(driver.memory?.minimumBytes ?? 32 * mib) / mib}M`;

  /** Waits until the guest answers an exec: at once in a container, once booted in a pv or vm guest. */
  async function ready(name: string): Promise<void> {
    for (const end = Date.now() + 120_000; ; await sleep(250)) {
      try {
        await run(name, 'true');
        return;
      } catch (e) {
        // UNAVAILABLE: its agent does not answer yet
        if (e instanceof LodgeError && e.code === 'UNAVAILABLE' && Date.now() < end) continue;
        const g = await d.client.guests.get(name);
        // the last line of its console that tells why, and how it ends
        const log = consoleLog(name);
        const why = [...log.matchAll(/^.*(Kernel panic|invoked oom-killer|Failed to (lock|open)|Unable to mount).*$/gm)].at(-1)?.[0];
        throw new Error(`${name} does not answer (${g.state}${g.stateReason ? `: ${g.stateReason}` : ''}): ${String(e)}; its console says ${JSON.stringify(why ?? '')} ... ${JSON.stringify(log.slice(-300))}`);
      }
    }
  }

  /** A shell that doubles a string until it is killed: the guest's own limit must end it, and the guest go on. */
  async function hogDiesInside(name: string): Promise<void> {
    // in the background, its end written down: while it squeezes the guest, a vm's agent may answer
    // later than an exec waits (its pages go before the OOM killer acts), so the guest is asked until it says
    await run(name, `rm -f /tmp/hog.exit; (sh -c 'x=0123456789abcdef; while true; do x="$x$x"; done'; echo $? > /tmp/hog.exit) > /dev/null 2>&1 &`);
    const exit = await until(() => run(name, 'cat /tmp/hog.exit 2>/dev/null').then((r) => r.stdout.trim(), () => ''), (v) => v !== '', 120_000);
    assert.equal(exit, '137', `the hog is killed by the OOM killer (its exit: ${exit || 'none within 120 s'})`);
    assert.equal((await d.client.guests.get(name)).state, 'running');
    assert.equal((await within(60_000, `${name} after its hog`, run(name, 'echo alive'))).stdout, 'alive\n');
  }

  test('launch: list and info show the guest running, the operation streams its steps, init runs as PID 1', { timeout: 300_000 }, async () => {
    const events: Event[] = [];
    const unsubscribe = await d.client.operations.events((e) => events.push(e));
    const launch = d.lodge(['launch', 'busybox', 'g1', '--kind', kind, '--memory', '128M', '--cpu', '1']);
    assert.equal(launch.code, 0, launch.stderr);
    await sleep(100);
    unsubscribe();
    assert.ok(events.some((e) => e.type === 'lifecycle' && e.target === 'g1' && e.action === 'running'), 'a lifecycle event says it runs');
    const ops = events.filter((e) => e.type === 'operation' && e.target === 'g1');
    assert.deepEqual([ops[0]?.detail?.status, ops.at(-1)?.detail?.status], ['running', 'success']);
    assert.ok(ops.some((e) => e.detail?.step === 'preparing the root filesystem'), 'progress steps are streamed');
    assert.match(d.lodge(['list']).stdout, new RegExp(`^g1\\s+${kind}\\s+running\\s+busybox\\s+cpu 1, mem 128M$`, 'm'));
    const json = JSON.parse(d.lodge(['list', '--format', 'json']).stdout) as Array<{ name: string; kind: string; state: string }>;
    assert.deepEqual(json.map((g) => [g.name, g.kind, g.state]), [['g1', kind, 'running']]);
    const info = d.lodge(['info', 'g1']).stdout;
    assert.match(info, /State:\s+running/);
    assert.match(info, new RegExp(`Kind:\\s+${kind}`));
    assert.match(info, facts.engine);
    await ready('g1');
    assert.equal((await run('g1', 'cat /proc/1/cmdline')).stdout.replaceAll('\0', ' ').trim(), 'init');
    assert.equal((await run('g1', 'hostname')).stdout, 'g1\n');
  });

  test('exec passes stdin, environment and working directory in, and stdout, stderr and the exit code out', async () => {
    const r = d.lodge(['exec', 'g1', '--env', 'WHO=lodge', '--cwd', '/etc', '--', 'sh', '-c', 'read line; echo "$line $WHO $(pwd)"; echo oops >&2; exit 7'], 'hello');
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, 'hello lodge /etc\n');
    assert.equal(r.stderr, 'oops\n');
    // a command that does not exist: 127 and a plain message (the guest's shell's, or Lodge's), in the API too
    const notFound = d.lodge(['exec', 'g1', 'no-such-command', '-x']);
    assert.equal(notFound.code, 127, notFound.stderr);
    assert.match(notFound.stderr, /no-such-command: (command )?not found/);
    assert.equal((await d.client.guests.exec('g1', { command: ['no-such-command'] })).exitCode, 127);
    assert.deepEqual(await d.client.guests.exec('g1', { command: ['pwd'], cwd: '/tmp' }), { exitCode: 0, stdout: '/tmp\n', stderr: '' });
    // arguments reach the command as they are, through whatever channel the kind has
    assert.deepEqual(await d.client.guests.exec('g1', { command: ['printf', '%s|', "it's", '$HOME', 'a b'] }), { exitCode: 0, stdout: "it's|$HOME|a b|", stderr: '' });
    assert.equal((await run('g1', 'kill -9 $$')).exitCode, 137, 'a signal as 128 + its number');
    const missing = d.lodge(['exec', '-t', 'nosuch', '--', 'sh']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /guest nosuch not found/);
    if (!has('interactiveExec')) {
      const t = d.lodge(['exec', '-t', 'g1', '--', 'sh']);
      assert.equal(t.code, 1);
      assert.equal(t.stderr, `lodge: ${lackMessage('interactiveExec', 'g1')}\n`);
      return;
    }
    const t = d.lodge(['exec', '-t', 'g1', '--', 'sh', '-c', 'tty; read x; echo "got $x"; exit 5'], 'typed\n');
    assert.equal(t.code, 5, t.stderr);
    assert.match(t.stdout, /^\/dev\/pts\/\d+\r?$/m, 'the command has a terminal');
    assert.match(t.stdout, /got typed/);
  });

  test('the console takes input and shows output, live and in its log', async () => {
    await onConsole('g1', 'echo console-$((6*7))', /console-42/);
    const log = d.lodge(['console', 'g1', '--log']);
    assert.equal(log.code, 0);
    assert.match(log.stdout, /BusyBox/);
    assert.match(log.stdout, /console-42/);
  });

  test('pause freezes the guest (a counter on its console stops) and resume continues it; or pause is refused with why', async () => {
    if (!has('pause')) {
      await assert.rejects(d.client.guests.changeState('g1', { action: 'pause' }), refused('UNSUPPORTED', lacking('pause', 'g1')));
      return;
    }
    await onConsole('g1', 'i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done &', /tick-3\b/);
    assert.equal(d.lodge(['pause', 'g1']).code, 0);
    assert.match(d.lodge(['list']).stdout, new RegExp(`^g1\\s+${kind}\\s+paused`, 'm'));
    const exec = d.lodge(['exec', 'g1', '--', 'true']);
    assert.notEqual(exec.code, 0);
    assert.match(exec.stderr, /cannot exec in g1: it is paused/);
    await sleep(300);
    const frozen = consoleLog('g1').length;
    await sleep(1200); // six ticks
    assert.equal(consoleLog('g1').length, frozen, 'nothing is printed while paused');
    assert.equal(d.lodge(['resume', 'g1']).code, 0);
    assert.equal((await d.client.guests.get('g1')).state, 'running');
    const resumed = await until(async () => consoleLog('g1').length, (n) => n > frozen, 5000);
    assert.ok(resumed > frozen, 'the counter goes on after resume');
    await onConsole('g1', 'kill $!; echo ticks-stopped-$((2+3))', /ticks-stopped-5/);
  });

  test('two guests of one image share its base, untouched, and write only their own layers', { timeout: 300_000 }, async () => {
    await d.launch('g2', { kind, networks: [] });
    await ready('g2');
    const [a, b] = [await facts.layers(d, 'g1'), await facts.layers(d, 'g2')];
    assert.equal(a.base, b.base, 'both run over the same base');
    assert.notEqual(a.own, b.own, 'each has its own layer');
    const base = fingerprint(a.base);
    const used = [allocated(a.own), allocated(b.own)];
    for (const name of ['g1', 'g2']) assert.equal((await run(name, `dd if=/dev/urandom of=/root/${name}.bin bs=1k count=512 2>/dev/null; sync; echo wrote`)).stdout, 'wrote\n');
    [a.own, b.own].forEach((own, i) => assert.ok(allocated(own) - used[i]! >= 512 * 1024, `${own} holds what its guest wrote (${used[i]} then ${allocated(own)} bytes)`));
    assert.equal(fingerprint(a.base), base, 'the base is untouched');
    if (statSync(a.base).isFile()) assert.equal(statSync(a.base).mode & 0o777, 0o444, 'the base file is read-only');
    const inode = async (name: string) => (await run(name, 'stat -c %i /bin/busybox')).stdout;
    assert.equal(await inode('g1'), await inode('g2'), 'the same busybox for both');
    // a root is the guest's own: an overlay in its mount namespace, or a disk its kernel mounts
    assert.deepEqual(d.mounts(), [], 'nothing of theirs is mounted on the host');
  });

  test('limits: the CPU quota is the host cgroup\'s and changes live; memory taken back from a running guest leaves it going on: a hog in it dies inside, and its neighbour goes on', { timeout: 300_000 }, async () => {
    const cpuQuota = async () => readFileSync(`${hostCgroup(await guestPid(d, 'g1'), 'cpu')}/cpu.cfs_quota_us`, 'utf8').trim();
    assert.equal(await cpuQuota(), '100000');
    if (has('liveLimits')) {
      const set = d.lodge(['set', 'g1', '--cpu', '0.5']);
      assert.equal(set.code, 0, set.stderr);
      assert.equal(await cpuQuota(), '50000');
      assert.deepEqual((await d.client.guests.get('g1')).limits, { cpu: 0.5, memory: '128M' });
      // g2 down to the least its kind may have: with a balloon the guest gives it back; without, the kind
      // takes it another way (a container's limit changes at once) or refuses, but never harms the guest
      const least = leastMemory();
      const lowered = await d.client.guests.update('g2', { limits: { memory: least } }).then(
        () => true,
        (e: unknown) => (assert.ok(!has('memoryBalloon') && refused('UNSUPPORTED', lacking('memoryBalloon', 'g2'))(e), String(e)), false),
      );
      assert.deepEqual((await d.client.guests.get('g2')).limits, lowered ? { memory: least } : {});
      if (has('memoryBalloon')) {
        const memTotal = () => run('g2', 'sed -n "s/MemTotal: *//p" /proc/meminfo').then((r) => parseInt(r.stdout, 10) * 1024);
        const bytes = parseInt(least, 10) * mib;
        const seen = await until(memTotal, (m) => m <= bytes, 60_000);
        assert.ok(seen <= bytes, `MemTotal shrank to at most ${least} (${(seen / mib).toFixed(1)}M)`);
      }
    } else {
      await assert.rejects(d.client.guests.update('g1', { limits: { cpu: 0.5 } }), refused('UNSUPPORTED', lacking('liveLimits', 'g1')));
    }
    await hogDiesInside('g2');
    assert.equal((await run('g1', 'echo alive')).stdout, 'alive\n', 'the neighbour goes on');
  });

  test('kill -9 of lodged: guests run on, the next lodged adopts them, and one that died meanwhile is seen stopped', { timeout: 300_000 }, async () => {
    assert.deepEqual([(await d.client.guests.get('g1')).state, (await d.client.guests.get('g2')).state], ['running', 'running'], 'the cases before left both running');
    const pids = { g1: await guestPid(d, 'g1'), g2: await guestPid(d, 'g2') };
    await onConsole('g1', 'echo before-$((1+1))', /before-2/);
    await d.kill9();
    for (const [name, pid] of Object.entries(pids)) assert.ok(existsSync(`/proc/${pid}`), `${name} runs on without lodged`);
    // one guest dies while nobody watches
    process.kill(pids.g2, 'SIGKILL');
    for (let i = 0; i < 100 && existsSync(`/proc/${pids.g2}`); i++) await sleep(20);

    await d.start();
    assert.match(d.stderr, /g1: adopted, running/);
    assert.match(d.stderr, /g2: running → stopped \(killed by signal 9\)/);
    const g2 = await d.client.guests.get('g2');
    assert.deepEqual([g2.state, g2.stateReason], ['stopped', 'killed by signal 9']);
    assert.equal((await d.client.guests.get('g1')).state, 'running');
    assert.equal(await guestPid(d, 'g1'), pids.g1, 'the same process, adopted, not restarted');
    // its console lived through it and kept what it showed; its control channel and exec answer the new lodged
    await onConsole('g1', 'echo after-$((2+2))', /after-4/);
    assert.match(consoleLog('g1'), /before-2[\s\S]*after-4/);
    assert.equal((await run('g1', 'hostname')).stdout, 'g1\n');
    if (has('pause')) {
      assert.equal(d.lodge(['pause', 'g1']).code, 0);
      assert.equal(d.lodge(['resume', 'g1']).code, 0);
    }
    // the dead one starts again, over what its engine left, with the least memory its kind declares
    // (the next case stops the adopted one)
    await d.client.guests.update('g2', { limits: { memory: leastMemory() } });
    assert.equal(d.lodge(['start', 'g2']).code, 0);
    await ready('g2');
    assert.equal((await run('g2', 'hostname')).stdout, 'g2\n');
  });

  test('a guest that powers itself off is seen stopped, with the reason', { timeout: 120_000 }, async () => {
    assert.equal((await d.client.guests.get('g2')).state, 'running', 'g2 runs: the case before started it again');
    // it may be gone before its answer comes back
    await run('g2', 'poweroff').catch(() => undefined);
    const g = await waitForState(d, 'g2', 'stopped', 60_000);
    assert.equal(g.state, 'stopped');
    assert.match(g.stateReason ?? '', /killed by signal|exited with code/);
    await d.done(await d.client.guests.delete('g2'));
  });

  test('stop asks the guest to shut down and waits for it; start and restart bring it back; delete refuses a running guest', { timeout: 300_000 }, async () => {
    const pid = await guestPid(d, 'g1');
    const stop = d.lodge(['stop', 'g1', '--timeout', '60']);
    assert.equal(stop.code, 0, stop.stderr);
    const g = await d.client.guests.get('g1');
    assert.deepEqual([g.state, g.stateReason], ['stopped', 'stopped on request']);
    assert.ok(!existsSync(`/proc/${pid}`), 'its engine is gone');
    assert.match(consoleLog('g1'), facts.halted, 'it shut down, it was not killed');
    assert.match(d.lodge(['exec', 'g1', '--', 'true']).stderr, /cannot exec in g1: it is stopped/);

    // --wait: back once it answers exec, which then works at once
    const started = d.lodge(['start', 'g1', '--wait']);
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stderr, /g1 is running and answers exec/);
    assert.equal((await run('g1', 'true')).exitCode, 0);
    const pid2 = await guestPid(d, 'g1');
    assert.notEqual(pid2, pid);
    const restart = d.lodge(['restart', 'g1', '--timeout', '60']);
    assert.equal(restart.code, 0, restart.stderr);
    assert.notEqual(await guestPid(d, 'g1'), pid2);
    assert.equal((await d.client.guests.get('g1')).state, 'running');
    // an exec while it boots answers, or says it is still booting (not the agent's silence)
    await run('g1', 'true').catch((e: Error) => assert.match(e.message, /\(g1 started \d+ s ago: it may still be booting; lodge start --wait or launch --wait waits for it\)$/));
    const refusal = d.lodge(['delete', 'g1']);
    assert.equal(refusal.code, 1);
    assert.match(refusal.stderr, /cannot delete g1: it is running; stop it first or use force/);
    await ready('g1');
  });

  test('what the driver does not declare is refused in one shape, with its reason, and changes nothing', { timeout: 300_000 }, async (t) => {
    await d.launch('g3', { kind, networks: [], start: false });
    await d.client.volumes.create({ name: 'lacks', size: '64M' });
    // when a case fails half-way: the volume must not fail the last case too
    t.after(() => d.client.volumes.delete('lacks').catch(() => undefined));
    const file = () => Readable.from([Buffer.from('x')]);
    for (const feature of Object.keys(driver.lacks) as GuestFeature[]) {
      const refusal = (guest: string) => refused('UNSUPPORTED', lacking(feature, guest));
      switch (feature) {
        case 'exec':
          await assert.rejects(d.client.guests.exec('g1', { command: ['true'] }), refusal('g1'));
          break;
        case 'interactiveExec': {
          const answer = await wsRefusal(d.client.guests.execUrl('g1', { command: ['sh'] }));
          assert.equal(answer.close, 4422);
          assert.equal(answer.error.code, 'UNSUPPORTED');
          assert.match(answer.error.message, lacking(feature, 'g1'));
          break;
        }
        case 'vga': {
          const answer = await wsRefusal(d.client.guests.vgaUrl('g1'));
          assert.equal(answer.close, 4422);
          assert.equal(answer.error.code, 'UNSUPPORTED');
          assert.match(answer.error.message, lacking(feature, 'g1'));
          break;
        }
        case 'pause':
          await assert.rejects(d.client.guests.changeState('g1', { action: 'pause' }), refusal('g1'));
          break;
        case 'liveLimits':
          await assert.rejects(d.client.guests.update('g1', { limits: { cpu: 0.25 } }), refusal('g1'));
          break;
        case 'memoryBalloon':
          // the limits case takes memory back from a running guest: refused so there, or taken another
          // way (a container's limit changes at once) with the guest going on under it
          continue;
        case 'diskHotplug':
          await assert.rejects(d.client.volumes.attach('g1', { volume: 'lacks', ...(has('volumeMount') ? { path: '/lacks' } : {}) }), refusal('g1'));
          break;
        case 'volumeMount':
          // a stopped guest, so that nothing else is refused first; the field is named
          await assert.rejects(d.client.volumes.attach('g3', { volume: 'lacks', path: '/lacks' }), refused('BAD_REQUEST', new RegExp(`^path: a ${kind} guest sees a volume as a disk, which it mounts itself; leave path out`)));
          break;
        case 'files':
          await assert.rejects(d.client.guests.pushFile('g1', { path: '/tmp/x' }, file()), refusal('g1'));
          break;
        case 'filesStopped':
          await assert.rejects(d.client.guests.pushFile('g3', { path: '/tmp/x' }, file()), refusal('g3'));
          await assert.rejects(d.client.guests.pullFile('g3', '/etc/hostname', devNull()), refusal('g3'));
          break;
        case 'statefulSnapshot':
        case 'liveMigration':
          // no endpoint asks for these yet: nothing can be refused
          continue;
        default:
          throw new Error(`no request here needs ${feature satisfies never}: add one`);
      }
    }
    assert.equal((await d.client.guests.get('g1')).state, 'running');
    assert.equal((await run('g1', 'echo unchanged')).stdout, 'unchanged\n');
    assert.equal((await d.client.volumes.get('lacks')).attachedTo, undefined);
    await d.client.volumes.delete('lacks');
  });

  test('a volume attached at rest or live is seen by the guest, keeps what it wrote, and outlives its attachments', { timeout: 300_000 }, async () => {
    await d.client.volumes.create({ name: 'vol1', size: '64M' });
    const mounted = has('volumeMount');
    const where = mounted ? { path: '/srv/vol' } : {};
    // a disk is found as its kernel lists it: lodged's name for it needs udev's links (busybox has none)
    const disks = async () => (await run('g1', 'ls /sys/block')).stdout.split(/\s+/).filter(Boolean);
    const plain = mounted ? [] : await disks();
    const added = async () => {
      const now = await until(disks, (l) => l.length > plain.length, 60_000);
      assert.equal(now.length, plain.length + 1, `one more disk (${plain.join(' ')} then ${now.join(' ')})`);
      return now.find((b) => !plain.includes(b))!;
    };
    const gone = async () => assert.deepEqual(await until(disks, (l) => l.length === plain.length, 30_000), plain, 'the disk is gone from the guest');
    // a directory it has, or a disk that it mounts itself
    const onVolume = async (script: string) => {
      const r = await run('g1', mounted ? `cd /srv/vol && ${script}` : `mkdir -p /v && mount /dev/${await added()} /v && cd /v && ${script}; cd / && umount /v`);
      assert.equal(r.stderr, '');
      return r.stdout;
    };
    // at rest: from its next start
    await state('g1', 'stop');
    const v = await d.client.volumes.attach('g1', { volume: 'vol1', ...where });
    assert.deepEqual((await d.client.guests.get('g1')).volumes, [mounted ? { name: 'vol1', path: '/srv/vol' } : { name: 'vol1', device: v.attachedTo?.device }]);
    await assert.rejects(d.client.volumes.delete('vol1'), refused('CONFLICT', /volume vol1 is attached to g1: detach it first/));
    await state('g1', 'start');
    await ready('g1');
    assert.equal(await onVolume('echo kept > file && cat file'), 'kept\n');
    if (has('diskHotplug')) {
      await d.client.volumes.detach('g1', 'vol1');
      await gone();
      await d.client.volumes.attach('g1', { volume: 'vol1', ...where });
      assert.equal(await onVolume('cat file'), 'kept\n', 'plugged in again, with what it had');
      await d.client.volumes.detach('g1', 'vol1');
      await gone();
    } else {
      await assert.rejects(d.client.volumes.detach('g1', 'vol1'), refused('UNSUPPORTED', lacking('diskHotplug', 'g1')));
      await state('g1', 'stop');
      await d.client.volumes.detach('g1', 'vol1');
      await state('g1', 'start');
      assert.equal((await run('g1', 'test -e /srv/vol/file && echo there || echo gone')).stdout, 'gone\n');
    }
    assert.deepEqual((await d.client.guests.get('g1')).volumes ?? [], []);
    assert.equal((await d.client.volumes.get('vol1')).attachedTo, undefined, 'detached, it stays');
    await d.client.volumes.delete('vol1');
    assert.deepEqual(d.mounts().filter((m) => m.includes('vol1')), [], 'no mount of it is left');
  });

  test('a hung guest that ignores the stop is killed after the timeout; force kills at once', { timeout: 300_000 }, async () => {
    const pid = await guestPid(d, 'g1');
    // SIGSTOP cannot be caught: the stop asked for is never answered
    process.kill(pid, 'SIGSTOP');
    const t0 = Date.now();
    const stop = d.lodge(['stop', 'g1', '--timeout', '1']);
    const took = Date.now() - t0;
    assert.equal(stop.code, 0, stop.stderr);
    assert.ok(took >= 1000, `it waited for the timeout first (${took} ms)`);
    assert.ok(took < 15_000, `and killed it soon after (${took} ms)`);
    assert.ok(!existsSync(`/proc/${pid}`));
    // a hung engine may not even take the ask (a stopped UML's mconsole, a stopped QEMU's QMP): the reason says which
    const killed = /killed after the timeout: (it had not shut down 1 s after it was asked|it could not be asked to shut down \(.+\) and had not ended 1 s later)/;
    assert.match(stop.stderr, new RegExp(`g1 is stopped \\(${killed.source}\\)`));
    assert.match((await d.client.guests.get('g1')).stateReason ?? '', new RegExp(`^${killed.source}$`));
    await state('g1', 'start');
    const force = d.lodge(['stop', 'g1', '--force']);
    assert.equal(force.code, 0, force.stderr);
    assert.equal((await d.client.guests.get('g1')).stateReason, 'stopped by force');
  });

  test('bad input names the field and the rule, and leaves nothing', async () => {
    const guests = (await d.client.guests.list()).map((g) => g.name);
    const volumes = d.rootVolumes();
    const launch = (body: Record<string, unknown>) => raw(d, 'POST', '/1.0/guests', { image: 'busybox', kind, ...body });
    for (const name of ['Web1', '1web', 'web_1', 'a'.repeat(64), '-x', 'x-']) {
      const r = await launch({ name });
      assert.equal(r.status, 400, name);
      assert.match(r.body.error!.message, /^name: ".*" is not valid \(lowercase letters, digits and "-", starting with a letter, 1 to 63 characters\)$/);
    }
    const cli = d.lodge(['launch', 'busybox', 'Bad_Name', '--kind', kind]);
    assert.equal(cli.code, 1);
    assert.equal(cli.stderr, 'lodge: name: "Bad_Name" is not valid (lowercase letters, digits and "-", starting with a letter, 1 to 63 characters)\n');
    const unknown = await launch({ name: 'x1', colour: 'blue' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error!.message, 'colour: unknown field');
    assert.equal((await launch({ name: 'x1', limits: { ram: '1G' } })).body.error!.message, 'limits.ram: unknown field');
    const minimum = driver.memory?.minimumBytes;
    const small = minimum ? `${minimum / mib / 2}M` : '1K';
    const cases: Array<[unknown, RegExp]> = [
      [{ memory: '12Q' }, /^limits\.memory: "12Q" is not valid \(bytes, or a number with K, M, G or T/],
      [{ memory: small }, minimum ? new RegExp(`^limits\\.memory: ${small} is below the ${minimum / mib}M a ${kind} guest's kernel needs$`) : /^limits\.memory: 1K is below the 8M a guest needs$/],
      [{ memory: '100T' }, /^limits\.memory: 100T is more than this host has/],
      [{ cpu: 0 }, /^limits\.cpu: must be > 0$/],
      [{ processes: 1.5 }, /^limits\.processes: must be integer$/],
      [{ cpu: '2' }, /^limits\.cpu: must be number$/],
    ];
    for (const [limits, message] of cases) {
      const r = await launch({ name: 'x2', limits });
      assert.equal(r.status, 400, JSON.stringify(limits));
      assert.match(r.body.error!.message, message);
    }
    assert.equal(d.lodge(['launch', 'busybox', 'x2', '--kind', kind, '--memory', 'lots']).stderr, 'lodge: --memory: "lots" is not a size (use e.g. 256M or 1G)\n');
    assert.match(d.lodge(['launch', 'busybox', 'x2', '--kind', kind, '--cpu', '0']).stderr, /--cpu: "0" is not a positive number of CPUs/);
    // the options of the other kinds
    const others: Record<string, unknown> = { privileged: true, accel: 'tcg', profile: 'legacy' };
    for (const option of Object.keys(others).filter((o) => !(driver.launchOptions as string[]).includes(o))) {
      const r = await launch({ name: 'x3', options: { [option]: others[option] } });
      assert.equal(r.status, 400, option);
      assert.match(r.body.error!.message, new RegExp(`^options\\.${option}: applies to \\w+ guests only, not ${kind}$`));
    }
    assert.deepEqual((await d.client.guests.list()).map((g) => g.name), guests, 'no guest was made');
    assert.deepEqual(d.rootVolumes(), volumes, 'no root volume either');
  });

  test('delete removes every guest and leaves nothing behind', async () => {
    for (const g of await d.client.guests.list()) assert.equal(d.lodge(['delete', '--force', g.name]).code, 0, g.name);
    assert.equal(d.lodge(['list']).stdout.trim().split('\n').length, 1, 'only the header is left');
    assert.deepEqual(d.runtimeContainers(), [], 'no runtime container');
    assert.deepEqual(d.mounts(), [], 'no mount');
    assert.deepEqual(d.cgroups(), [], 'no cgroup');
    assert.deepEqual(d.rootVolumes(), [], 'no root volume');
    const guestsDir = path.join(d.stateDir, 'guests');
    assert.deepEqual(existsSync(guestsDir) ? readdirSync(guestsDir) : [], [], 'no guest directory');
    assert.deepEqual(await d.client.volumes.list(), [], 'no volume');
    const engines = execFileSync('pgrep', ['-f', d.stateDir], { encoding: 'utf8' }).split('\n').filter((p) => p && Number(p) !== d.pid);
    assert.deepEqual(engines, [], 'no process runs from its state but lodged');
  });
}

/** A raw request, to send what the typed client would never send. */
function raw(d: TestDaemon, method: string, url: string, body: unknown): Promise<{ status: number; body: { error?: { code: string; message: string } } }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: d.socket, method, path: url, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : {} }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** What a WebSocket endpoint answers before it closes: its error frame and close code. */
function wsRefusal(url: string): Promise<{ close: number; error: { code: string; message: string } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let error: { code: string; message: string } | undefined;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) error = (JSON.parse(data.toString()) as { error: typeof error }).error;
    });
    ws.on('close', (close: number) => (error ? resolve({ close, error }) : reject(new Error(`${url} closed (${close}) without an error`))));
    ws.on('error', reject);
  });
}

const devNull = () => new Writable({ write: (_chunk, _encoding, done) => done() });
