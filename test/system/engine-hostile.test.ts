/**
 * A guest's engine turned hostile, on real QEMU and UML: done as root in the test, as a
 * compromised QEMU or UML (or the guest code behind them) would. Links left where lodged
 * writes or sends, garbage and endless lines on QMP and on the guest agent's socket, a
 * FIFO and a 10 GB file as the pv agent's answer, SIGSTOPped engines: each fails that one
 * request with a clear error, lodged keeps answering, and a canary file outside stays as it was.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type * as UnixDgram from 'unix-dgram';
import type { LodgeError } from '../../src/api/errors.js';
import { statsTimeoutMs } from '../../src/drivers/vm/driver.js';
import { guestPid, requireProgram, TestDaemon } from './harness.js';

const d = new TestDaemon();
before(async () => {
  requireProgram('/usr/bin/qemu-system-x86_64', 'qemu-system-x86');
  requireProgram('/usr/bin/linux.uml', 'user-mode-linux');
  requireProgram('/usr/bin/setpriv', 'util-linux');
  await d.start();
  await d.buildBusybox();
  // one QEMU boot and one UML for the whole file
  await d.launch('hv', { kind: 'vm', limits: { memory: '128M' } });
  await d.launch('hp', { kind: 'pv' });
});
after(() => d.cleanup());

/** A file outside every guest that no hostile engine may get lodged to change. */
const canary = path.join(d.dir, 'canary');
writeFileSync(canary, 'canary: untouched\n', { mode: 0o600 });
const canaryIntact = () => {
  assert.equal(readFileSync(canary, 'utf8'), 'canary: untouched\n', 'the canary keeps its content');
  assert.equal(statSync(canary).mode & 0o7777, 0o600, 'the canary keeps its mode');
};

const cmdline = async (name: string) => readFileSync(`/proc/${await guestPid(d, name)}/cmdline`, 'utf8').split('\0');
const uidOf = async (name: string) => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${await guestPid(d, name)}/status`, 'utf8'))![1]);
/** The vm guest's QEMU directory, from its QMP socket on its command line. */
const vmDir = async () => path.dirname((await cmdline('hv')).find((a) => a.startsWith('unix:') && a.includes('qmp.sock'))!.slice(5).split(',')[0]!);
/** The pv guest's UML directory (uml_dir) and the directory with its exec exchange (pv/, above it). */
const umlDir = async () => (await cmdline('hp')).find((a) => a.startsWith('uml_dir='))!.slice(8);
const pvDir = async () => {
  const uml = await umlDir();
  // (an earlier lodged had UML's files and the exchange in one directory: the tests say what fails there too)
  return existsSync(path.join(uml, 'agent')) ? uml : path.dirname(uml);
};

/** Runs `fn` and says how long it took. */
async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  const value = await fn();
  return { value, ms: Date.now() - t0 };
}

/** lodged still answers: the list and a get of the other guest, each in a few seconds (bounds against a hang, with room for a loaded machine). */
async function stillServing(): Promise<void> {
  const list = await timed(() => d.client.guests.list());
  assert.ok(list.ms < 10_000, `list answered in ${list.ms} ms`);
  assert.deepEqual(list.value.map((g) => g.name).sort(), ['hp', 'hv']);
  const cli = timedSync(() => d.lodge(['list']));
  assert.equal(cli.value.code, 0, cli.value.stderr);
  assert.ok(cli.ms < 12_000, `lodge list answered in ${cli.ms} ms`);
}
function timedSync<T>(fn: () => T): { value: T; ms: number } {
  const t0 = Date.now();
  const value = fn();
  return { value, ms: Date.now() - t0 };
}

/** A fake QEMU on `file`: greets, then answers every command with `answer`. */
async function fakeQmp(file: string, answer: (c: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer((c) => {
    c.on('error', () => {});
    c.write('{"QMP": {"version": {}, "capabilities": []}}\n');
    c.on('data', () => answer(c));
  });
  await new Promise<void>((r) => server.listen(file, r));
  chmodSync(file, 0o777);
  return server;
}

test('garbage, endless lines or a link on the QMP socket fail the counters, not lodged', async () => {
  const qmp = path.join(await vmDir(), 'qmp.sock');
  const real = `${qmp}.real`;
  renameSync(qmp, real);
  try {
    const cases: Array<[string, (file: string) => Promise<net.Server | undefined>, RegExp]> = [
      ['garbage', (f) => fakeQmp(f, (c) => c.write('}{ SECRET garbage \0\xff\n')), /not JSON/],
      ['an endless line', (f) => fakeQmp(f, (c) => { for (let i = 0; i < 40 && !c.destroyed; i++) c.write('x'.repeat(64 * 1024)); }), /longer than/],
      ['a link to the real socket', async (f) => (symlinkSync(real, f), undefined), /symbolic link/],
    ];
    for (const [what, make, why] of cases) {
      const server = await make(qmp);
      try {
        const got = await timed(() => d.client.guests.get('hv'));
        assert.ok(got.ms < 10_000, `${what}: get answered in ${got.ms} ms`);
        assert.equal(got.value.state, 'running');
        assert.equal(got.value.machine?.stats, undefined, what);
        assert.match(got.value.machine?.statsUnavailable ?? '', why, what);
        assert.doesNotMatch(got.value.machine?.statsUnavailable ?? '', /SECRET/);
        await stillServing();
      } finally {
        server?.close();
        rmSync(qmp, { force: true });
      }
    }
  } finally {
    renameSync(real, qmp);
  }
  const back = await d.client.guests.get('hv');
  assert.ok(back.machine?.stats, `the real QEMU answers again: ${back.machine?.statsUnavailable}`);
});

/** A fake guest agent on `file`: `answer` is called for each request, with its sync id if it is guest-sync-delimited. */
async function fakeAgent(file: string, answer: (c: net.Socket, syncId: string | undefined) => void): Promise<net.Server> {
  const server = net.createServer((c) => {
    c.on('error', () => {});
    c.on('data', (b: Buffer) => {
      // the client's lone 0xFF (its resync) is no request
      const text = b.toString('latin1');
      if (text.includes('"execute"')) answer(c, /"id": ?(\d+)/.exec(text)?.[1]);
    });
  });
  await new Promise<void>((r) => server.listen(file, r));
  chmodSync(file, 0o777);
  return server;
}

test('garbage, endless lines or a link on the guest agent socket fail that exec, not lodged', async () => {
  const qga = path.join(await vmDir(), 'qga.sock');
  const real = `${qga}.real`;
  renameSync(qga, real);
  try {
    const cases: Array<[string, (file: string) => Promise<net.Server | undefined>, RegExp]> = [
      ['garbage', (f) => fakeAgent(f, (c) => c.write('}{ SECRET garbage \0\n')), /exec in hv: its guest agent does not answer/],
      ['an endless line after the sync', (f) => fakeAgent(f, (c, id) => {
        if (id) c.write(`\xff{"return": ${id}}\n`, 'latin1');
        else for (let i = 0; i < 50 && !c.destroyed; i++) c.write('x'.repeat(1024 * 1024));
      }), /exec in hv failed: the guest agent sent a line longer than \d+ bytes/],
      ['an answer that is not JSON after the sync', (f) => fakeAgent(f, (c, id) => c.write(id ? `\xff{"return": ${id}}\n` : '{SECRET\n', 'latin1')), /exec in hv failed: the guest agent sent a line that is not JSON \(7 characters\)/],
      ['a link to the real socket', async (f) => (symlinkSync(real, f), undefined), /the guest agent socket of hv \(.*\) is a symbolic link, which Lodge does not follow/],
    ];
    for (const [what, make, why] of cases) {
      const server = await make(qga);
      try {
        // through the client, not the CLI: the fake agent lives in this process
        const r = await timed(() => d.client.guests.exec('hv', { command: ['true'] }).then(() => 'ran', (e: LodgeError) => e.describe()));
        assert.ok(r.ms < 10_000, `${what}: exec answered in ${r.ms} ms`);
        assert.match(r.value, why, what);
        assert.doesNotMatch(r.value, /SECRET/, what);
        await stillServing();
      } finally {
        server?.close();
        rmSync(qga, { force: true });
      }
    }
  } finally {
    renameSync(real, qga);
  }
  canaryIntact();
});

test('a SIGSTOPped QEMU: get and list answer in a few seconds, its counters unavailable', async () => {
  const pid = await guestPid(d, 'hv');
  process.kill(pid, 'SIGSTOP');
  try {
    const got = await timed(() => d.client.guests.get('hv'));
    // QEMU was waited for only as long as the counters' own timeout: the time bound is only against a hang,
    // as a loaded CI machine can take seconds more to answer
    assert.match(got.value.machine?.statsUnavailable ?? '', new RegExp(`(no QMP greeting|no answer) .*in ${statsTimeoutMs} ms`));
    assert.ok(got.ms < 15_000, `get answered in ${got.ms} ms`);
    assert.equal(got.value.state, 'running');
    assert.match(d.lodge(['info', 'hv']).stdout, /vCPU time:\s+unavailable: /);
    await stillServing();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
});

test('a machine.json that QEMU filled with garbage is taken for no record, and never echoed', async () => {
  const vm = await vmDir();
  // a guest an earlier lodged started has its record in QEMU's directory, which QEMU may have filled with anything
  rmSync(path.join(path.dirname(vm), 'machine.json'), { force: true });
  try {
    for (const garbage of ['SECRET not json', '{"accel":"SECRET"}']) {
      writeFileSync(path.join(vm, 'machine.json'), garbage);
      const guest = await d.client.guests.get('hv');
      assert.doesNotMatch(JSON.stringify(guest), /SECRET/, 'nothing of what QEMU wrote is answered');
      assert.equal(guest.state, 'running');
    }
  } finally {
    rmSync(path.join(vm, 'machine.json'));
  }
});

test('a link where machine.json was cannot reach a host file at the next start', { timeout: 240_000 }, async () => {
  const vm = await vmDir();
  symlinkSync(canary, path.join(vm, 'machine.json'));
  const stop = d.lodge(['stop', '--force', 'hv']);
  assert.equal(stop.code, 0, stop.stderr);
  const start = d.lodge(['start', 'hv']);
  assert.equal(start.code, 0, start.stderr);
  canaryIntact();
  assert.ok(!existsSync(path.join(vm, 'machine.json')) || !lstatSync(path.join(vm, 'machine.json')).isSymbolicLink(), 'the link is gone');
  assert.match(d.lodge(['info', 'hv']).stdout, /Accelerator: tcg/);
  // lodged's record is in the guest's root-only directory, out of QEMU's reach
  const guestDir = path.dirname(vm);
  assert.ok(existsSync(path.join(guestDir, 'machine.json')));
  assert.equal(statSync(guestDir).uid, 0);
  assert.equal(statSync(guestDir).mode & 0o022, 0, "the guest's directory is root's alone");
});

test("UML's user cannot put a link where lodged chmods, writes or sends; a link at the mconsole socket is refused", async () => {
  const pv = await pvDir();
  const uid = await uidOf('hp');
  // as UML's user: where the mconsole client sockets and the exec requests go, nothing can be made
  const asUml = (argv: string[]) => spawnSync('setpriv', ['--reuid', String(uid), '--regid', String(uid), '--clear-groups', ...argv], { encoding: 'utf8' });
  for (const target of [path.join(pv, 'mc-00000000.sock'), path.join(pv, 'agent', 'requests', 'x.sh'), path.join(pv, 'agent', 'x')]) {
    assert.notEqual(asUml(['ln', '-s', canary, target]).status, 0, `UML's user cannot make ${target}`);
  }
  assert.notEqual(asUml(['mv', path.join(pv, 'agent'), path.join(pv, 'agent.moved')]).status, 0, 'nor move the exchange away');
  const st = statSync(pv);
  assert.equal(st.uid, 0, 'pv/ is root-owned');
  assert.equal(st.mode & 0o7777, 0o710);
  // the mconsole socket is UML's: a link there must not send lodged's commands to another socket
  const unix = createRequire(import.meta.url)('unix-dgram') as typeof UnixDgram;
  const other = path.join(d.dir, 'other-mconsole');
  const received: Buffer[] = [];
  const decoy = unix.createSocket('unix_dgram', (m: Buffer) => received.push(m));
  decoy.bind(other);
  const mconsole = path.join(await umlDir(), 'uml', 'mconsole');
  renameSync(mconsole, `${mconsole}.real`);
  try {
    symlinkSync(other, mconsole);
    const pause = d.lodge(['pause', 'hp']);
    assert.notEqual(pause.code, 0);
    assert.match(pause.stderr, /mconsole socket .* is a symbolic link/);
    await sleep(200);
    assert.equal(received.length, 0, 'nothing reached the other socket');
  } finally {
    decoy.close();
    rmSync(mconsole, { force: true });
    renameSync(`${mconsole}.real`, mconsole);
  }
  assert.equal(d.lodge(['pause', 'hp']).code, 0);
  assert.equal(d.lodge(['resume', 'hp']).code, 0);
  const exec = d.lodge(['exec', 'hp', '--', 'echo', 'fine']);
  assert.equal(exec.stdout, 'fine\n', exec.stderr);
  canaryIntact();
});

/**
 * Runs a 4-second command in the pv guest through lodge-agent (lodge-execd's line moved aside,
 * as in an image without it: the agent still copies files) and, once the agent has taken it,
 * replaces its stdout answer with what `replace` makes, as a hostile guest could.
 */
async function execWithReplacedAnswer(replace: (file: string) => void): Promise<{ error: Error | undefined; ms: number }> {
  const pv = await pvDir();
  const responses = path.join(pv, 'agent', 'responses');
  const line = path.join(path.dirname(pv), 'shim', 'exec.sock');
  renameSync(line, `${line}.aside`);
  try {
    const t0 = Date.now();
    const exec = d.client.guests.exec('hp', { command: ['sh', '-c', 'echo start; sleep 4; echo end'] }).then(() => undefined, (e: Error) => e);
    let out: string | undefined;
    for (let i = 0; i < 300 && !out; i++) {
      out = readdirSync(responses).find((f) => f.endsWith('.out'));
      if (!out) await sleep(50);
    }
    assert.ok(out, 'the agent took the command');
    rmSync(path.join(responses, out));
    replace(path.join(responses, out));
    await stillServing();
    const error = await Promise.race([exec, sleep(30_000).then(() => new Error('the exec did not end in 30 s'))]);
    return { error, ms: Date.now() - t0 };
  } finally {
    renameSync(`${line}.aside`, line);
  }
}

test("a FIFO as the agent's answer fails that exec at once, and lodged keeps serving", async () => {
  const { error, ms } = await execWithReplacedAnswer((file) => execFileSync('mkfifo', [file]));
  assert.match(error?.message ?? 'no error', /the out answer of hp's agent .* is not a regular file/);
  assert.ok(ms < 15_000, `the exec ended in ${ms} ms`);
  await stillServing();
});

test("a 10 GB file as the agent's answer fails that exec with a clear error", async () => {
  const { error, ms } = await execWithReplacedAnswer((file) => {
    writeFileSync(file, '');
    truncateSync(file, 10 * 1024 ** 3);
  });
  assert.match(error?.message ?? 'no error', /the out answer of hp's agent .* is larger than the \d+ bytes Lodge reads of it/);
  assert.ok(ms < 15_000, `the exec ended in ${ms} ms`);
  const exec = d.lodge(['exec', 'hp', '--', 'echo', 'fine']);
  assert.equal(exec.stdout, 'fine\n', exec.stderr);
});

test('a SIGSTOPped UML: get and list answer in a few seconds', async () => {
  const pid = await guestPid(d, 'hp');
  process.kill(pid, 'SIGSTOP');
  try {
    const got = await timed(() => d.client.guests.get('hp'));
    assert.ok(got.ms < 10_000, `get answered in ${got.ms} ms`);
    assert.equal(got.value.state, 'running');
    await stillServing();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  const exec = d.lodge(['exec', 'hp', '--', 'echo', 'fine']);
  assert.equal(exec.stdout, 'fine\n', exec.stderr);
  canaryIntact();
});

test('lodged lived through all of it', async () => {
  assert.ok((await d.client.host()).instance, 'the same lodged answers');
  assert.doesNotMatch(d.stderr, /uncaught|unhandled/i);
  canaryIntact();
});
