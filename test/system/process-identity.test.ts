/**
 * Host-reboot simulation: stale pid files pointing at live unrelated processes. A guest's
 * processes end while lodged is down and nobody records how (as in a reboot), and its pid
 * records are rewritten to name a live process of the test's own, as a reused pid or a pid
 * from another boot would. lodged must see the guest stopped and say why, delete it, start
 * it again, and never signal the stranger; a network's dnsmasq likewise.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { guestPid, requireProgram, TestDaemon } from './harness.js';

const otherBoot = '00000000-0000-4000-8000-00000000b007';
const hostBoot = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const bootTimeMs = () => Number(readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('btime '))!.split(' ')[1]) * 1000;

function stat(pid: number): string[] {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return ['', '', ...s.slice(s.lastIndexOf(')') + 2).split(' ')];
}
/** Field 22: clock ticks after boot. */
const startTime = (pid: number) => Number(stat(pid)[21]);
const parentOf = (pid: number) => Number(stat(pid)[3]);
const gone = (pid: number) => !existsSync(`/proc/${pid}`) || stat(pid)[2] === 'Z';

async function killAndWait(pid: number): Promise<void> {
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 250 && !gone(pid); i++) await sleep(20);
  assert.ok(gone(pid), `${pid} ended`);
}

/** The stranger: a process of the test's own whose pid the records will name. */
let stranger: ChildProcess;
const strangerAlive = () => stranger.exitCode === null && stranger.signalCode === null && !gone(stranger.pid!);

before(() => {
  stranger = spawn('sleep', ['1000'], { stdio: 'ignore' });
});
after(() => {
  stranger.kill('SIGKILL');
});

/** How a guest's records are rewritten: what `processes.json` and `pid` say afterwards (undefined: no identity, an older Lodge's record). */
type Rewrite = (pid: number) => { processes?: unknown; pidMtimeMs?: number };

const cases: Record<string, { rewrite: Rewrite; reason: RegExp }> = {
  reused: {
    // the stranger got the guest's pid: same boot, another start time
    rewrite: (pid) => ({ processes: { shim: { pid, bootId: hostBoot(), startTime: startTime(pid) + 7 }, main: { pid, bootId: hostBoot(), startTime: startTime(pid) + 7 } } }),
    reason: /^its main process ended and no exit status was recorded: process \d+ is gone and its pid now belongs to another process$/,
  },
  rebooted: {
    // a record from another boot: even the start time matches
    rewrite: (pid) => ({ processes: { shim: { pid, bootId: otherBoot, startTime: startTime(pid) }, main: { pid, bootId: otherBoot, startTime: startTime(pid) } } }),
    reason: /^its main process ended and no exit status was recorded: process \d+ was recorded before the host last booted$/,
  },
  'old-rebooted': {
    // an older Lodge's record (the pid alone), written before this boot
    rewrite: () => ({ pidMtimeMs: bootTimeMs() - 3_600_000 }),
    reason: /^its main process ended and no exit status was recorded: process \d+ was recorded before the host last booted$/,
  },
  'old-reused': {
    // an older Lodge's record, written a minute before the stranger started
    rewrite: (pid) => ({ pidMtimeMs: bootTimeMs() + (startTime(pid) * 10) - 60_000 }),
    reason: /^its main process ended and no exit status was recorded: process \d+ is gone and its pid now belongs to a process started after it was recorded$/,
  },
};

/** Guests of `kind`, one per case (named after it), whose records are rewritten while lodged is down. */
async function strangerScenario(kind: 'ct' | 'pv', names: string[]): Promise<void> {
  const d = new TestDaemon();
  try {
    await d.start();
    await d.buildBusybox();
    const dirs: Record<string, string> = {};
    const ends: number[] = [];
    for (const name of names) {
      await d.launch(name, { kind });
      const main = await guestPid(d, name);
      const shim = parentOf(main);
      const args = readFileSync(`/proc/${shim}/cmdline`, 'utf8').split('\0');
      assert.match(args[0]!, /lodge-shim$/, 'the init is the shim\'s child');
      dirs[name] = args[args.indexOf('--dir') + 1]!;
      ends.push(shim, main);
    }

    // and one that lives on, with an older Lodge's record (its pid alone, which is right)
    await d.launch('old-live', { kind });
    const live = await guestPid(d, 'old-live');
    const liveDir = readFileSync(`/proc/${parentOf(live)}/cmdline`, 'utf8').split('\0').find((a) => a.includes('/guests/'))!;

    // lodged goes; so do the guests' processes, with no exit recorded, as at a power cut
    await d.stop();
    rmSync(path.join(liveDir, 'processes.json'));
    for (const pid of ends) await killAndWait(pid);
    const pid = stranger.pid!;
    for (const name of names) {
      const { rewrite } = cases[name]!;
      const dir = dirs[name]!;
      assert.equal(existsSync(path.join(dir, 'exit')), false, 'no exit record');
      const { processes, pidMtimeMs } = rewrite(pid);
      writeFileSync(path.join(dir, 'pid'), String(pid));
      rmSync(path.join(dir, 'processes.json'), { force: true });
      if (processes) writeFileSync(path.join(dir, 'processes.json'), JSON.stringify(processes));
      if (pidMtimeMs !== undefined) utimesSync(path.join(dir, 'pid'), new Date(pidMtimeMs), new Date(pidMtimeMs));
    }

    await d.start();
    const guests = Object.fromEntries((await d.client.guests.list()).map((g) => [g.name, g]));
    for (const name of names) {
      const { reason } = cases[name]!;
      assert.equal(guests[name]!.state, 'stopped', `${name}: ${JSON.stringify(guests[name])}`);
      assert.match(guests[name]!.stateReason ?? '', reason, name);
    }
    assert.ok(strangerAlive(), 'the stranger was never signalled');
    assert.equal(guests['old-live']!.state, 'running', 'a true old record is adopted');
    assert.equal(await guestPid(d, 'old-live'), live);
    assert.equal(JSON.parse(readFileSync(path.join(liveDir, 'processes.json'), 'utf8')).main.pid, live, 'and its identity recorded from then on');

    // it starts again as a new process, not as the stranger
    assert.equal(d.lodge(['start', 'reused']).code, 0);
    const restarted = await guestPid(d, 'reused');
    assert.notEqual(restarted, pid);
    if (kind === 'ct') assert.equal(d.lodge(['exec', 'reused', '--', 'hostname']).stdout, 'reused\n');

    for (const name of [...names, 'old-live']) {
      const r = d.lodge(['delete', '--force', name]);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    }
    assert.deepEqual(await d.client.guests.list(), []);
    assert.ok(strangerAlive(), 'deleting the guests left the stranger alone');
    assert.deepEqual(d.runtimeContainers(), []);
    assert.deepEqual(d.cgroups(), []);
  } finally {
    await d.cleanup();
  }
}

test('a ct guest whose pid records name a live stranger is stopped, deletable and startable, and the stranger is never signalled', () =>
  strangerScenario('ct', Object.keys(cases)));

test('a pv guest likewise: its engine\'s records name a stranger after a reused pid or a reboot', () => {
  requireProgram('/usr/bin/linux.uml', 'user-mode-linux');
  return strangerScenario('pv', ['reused', 'rebooted']);
});

test("a network's dnsmasq pid file naming a live stranger: lodged starts its own dnsmasq and leaves the stranger alone", async () => {
  requireProgram('dnsmasq', 'dnsmasq-base');
  const d = new TestDaemon({ netns: true });
  try {
    await d.start();
    const networks = path.join(d.stateDir, 'networks');
    const [network] = readdirSync(networks).filter((n) => existsSync(path.join(networks, n, 'dnsmasq.pid')));
    assert.ok(network, 'the default network has a dnsmasq');
    const dir = path.join(networks, network);
    const pidFile = path.join(dir, 'dnsmasq.pid');
    const dnsmasqPid = () => Number(readFileSync(pidFile, 'utf8').trim());
    const pid = stranger.pid!;

    // with an identity that is not the stranger's, and then with no identity (an older Lodge's record)
    for (const identity of [{ pid, bootId: hostBoot(), startTime: startTime(pid) + 3 }, { pid, bootId: otherBoot, startTime: startTime(pid) }, undefined]) {
      await d.stop();
      await killAndWait(dnsmasqPid());
      writeFileSync(pidFile, `${pid}\n`);
      rmSync(path.join(dir, 'dnsmasq.identity'), { force: true });
      if (identity) writeFileSync(path.join(dir, 'dnsmasq.identity'), JSON.stringify(identity));

      await d.start();
      assert.ok(strangerAlive(), `the stranger was not signalled (${JSON.stringify(identity)})`);
      const started = dnsmasqPid();
      assert.notEqual(started, pid);
      assert.ok(!gone(started), 'a dnsmasq of its own runs');
      assert.ok(readFileSync(`/proc/${started}/cmdline`, 'utf8').startsWith('dnsmasq\0'));
    }
    // the one it runs now is its own: a restart keeps it (told to re-read, not replaced),
    // also from an older Lodge's record, whose identity is then recorded
    const own = dnsmasqPid();
    await d.stop();
    rmSync(path.join(dir, 'dnsmasq.identity'));
    await d.start();
    assert.equal(dnsmasqPid(), own);
    assert.equal(JSON.parse(readFileSync(path.join(dir, 'dnsmasq.identity'), 'utf8')).pid, own);
    await d.stop();
    await d.start();
    assert.equal(dnsmasqPid(), own);
    assert.ok(strangerAlive());
  } finally {
    await d.cleanup();
  }
});
