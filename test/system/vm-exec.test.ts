/**
 * lodge exec in vm guests, on real QEMU under TCG: through the guest agent protocol (QGA) on
 * the guest's virtio-serial port (the API's whole exec; in the busybox image its agent is
 * lodge-ga), and as streams through lodge-execd on a port of its own (lodge exec). Output,
 * exit code, stdin, env and cwd as in the other kinds; a command that cannot run, output
 * past the cap, several execs at once; a guest whose disk has no agent fails within seconds.
 * (Debian's own qemu-guest-agent: debian-image.test.ts; exec -t refused with why, as every
 * feature a kind lacks: conformance.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LodgeError } from '../../src/api/errors.js';
import type { ExecPost } from '../../src/api/guests.js';
import { assertExecStreams, consoleExpect, requireProgram, TestDaemon } from './harness.js';

const d = new TestDaemon();
const work = mkdtempSync('/tmp/lodge-vm-exec-');
before(async () => {
  requireProgram('/usr/bin/qemu-system-x86_64', 'qemu-system-x86');
  await d.start();
  await d.buildBusybox();
  await d.launch('ga', { kind: 'vm' });
});
after(async () => {
  await d.cleanup();
  rmSync(work, { recursive: true, force: true });
});

const exec = (name: string, body: ExecPost) => d.client.guests.exec(name, body);

test('exec in a vm reaches its guest agent once it has booted: its own kernel, stdout, stderr and exit code', { timeout: 180_000 }, async () => {
  let answer: Awaited<ReturnType<typeof exec>> | undefined;
  let last: unknown;
  // the guest boots in 10-20 s under TCG; until its agent runs, exec fails fast with why
  for (let i = 0; i < 40 && !answer; i++) {
    answer = await exec('ga', { command: ['uname', '-r'] }).catch((e: unknown) => ((last = e), undefined));
    if (!answer) await sleep(1000);
  }
  assert.ok(answer, `the agent never answered: ${String(last)}`);
  if (last) assert.match((last as Error).message, /exec in ga: its guest agent does not answer/, 'while it boots');
  assert.match(answer.stdout, /-cloud-amd64\n$/, "the guest's own kernel");
  assert.deepEqual(await exec('ga', { command: ['sh', '-c', 'echo out; echo err >&2; exit 3'] }), { exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
  const cli = d.lodge(['exec', 'ga', '--', 'sh', '-c', 'hostname; exit 5']);
  assert.equal(cli.code, 5, 'the exit code is lodge exec\'s');
  assert.equal(cli.stdout, 'ga\n');
  assert.equal((await exec('ga', { command: ['sh', '-c', 'kill -9 $$'] })).exitCode, 137, 'a signal as 128 + its number');
});

test('stdin, env and cwd reach the command', async () => {
  const input = 'line one\nlíne two ✓\n'.repeat(2000);
  assert.equal((await exec('ga', { command: ['cat'], stdin: input })).stdout, input);
  assert.equal(d.lodge(['exec', 'ga', '--', 'wc', '-l'], 'a\nb\nc\n').stdout.trim(), '3');
  assert.equal((await exec('ga', { command: ['cat'] })).stdout, '', 'no stdin: end of input at once');
  const env = await exec('ga', { command: ['sh', '-c', 'echo "$GREETING|$HOME|$PATH"'], env: { GREETING: "it's a b  c" } });
  assert.equal(env.stdout, "it's a b  c|/root|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
  assert.equal((await exec('ga', { command: ['pwd'], cwd: '/etc' })).stdout, '/etc\n');
  const cwd = d.lodge(['exec', 'ga', '--cwd', '/tmp', '--', 'sh', '-c', 'pwd; echo "$0|$1"', 'zero', 'one']);
  assert.equal(cwd.stdout, '/tmp\nzero|one\n', 'the command and its arguments are unchanged by the way into the directory');
  const missing = await exec('ga', { command: ['pwd'], cwd: '/no/such/dir' });
  assert.equal(missing.exitCode, 127, 'a directory that does not exist: 127, as in pv guests');
  assert.match(missing.stderr, /can't cd to \/no\/such\/dir/);
});

test('a command that does not exist exits 127 with a plain message, as in the other kinds; the agent goes on', async () => {
  const r = d.lodge(['exec', 'ga', '--', 'no-such-command', 'x']);
  assert.deepEqual([r.code, r.stderr], [127, 'lodge: no-such-command: command not found in ga\n']);
  assert.equal((await exec('ga', { command: ['echo', 'still here'] })).stdout, 'still here\n');
});

test('several execs at once share the agent, each gets its own answer', async () => {
  // each prints the guest's clock as it starts and ends: side by side, every one started before any ended
  const results = await Promise.all([0, 1, 2, 3].map((i) => exec('ga', { command: ['sh', '-c', `cut -d' ' -f1 /proc/uptime; sleep 2; echo ${i}; cut -d' ' -f1 /proc/uptime`] })));
  const runs = results.map((r) => r.stdout.split('\n'));
  assert.deepEqual(runs.map((r) => [r[1], r.length]), [['0', 4], ['1', 4], ['2', 4], ['3', 4]], 'each its own answer: two clock readings around its number, nothing else');
  const [starts, ends] = [runs.map((r) => Number(r[0])), runs.map((r) => Number(r[2]))];
  assert.ok(Math.max(...starts) < Math.min(...ends), `they ran side by side (guest uptime at starts ${starts}, at ends ${ends})`);
});

test('output past the cap fails the exec cleanly: the command is killed and the guest answers on', { timeout: 180_000 }, async () => {
  await assert.rejects(exec('ga', { command: ['sh', '-c', 'yes 0123456789abcdef'] }), (e: LodgeError) => {
    assert.equal(e.code, 'UNSUPPORTED');
    assert.match(e.message, /exec in ga: the stdout of the command exceeds 16 MiB/);
    return true;
  });
  assert.equal((await exec('ga', { command: ['sh', '-c', 'pidof yes || echo none'] })).stdout, 'none\n', 'the command was killed');
  assert.equal((await exec('ga', { command: ['echo', 'ok'] })).stdout, 'ok\n');
});

test('a hostile guest on the agent port (garbage, a line without end) fails the exec within seconds and harms nothing else', { timeout: 180_000 }, async () => {
  const typed = (command: string, pattern: RegExp) => consoleExpect(d, 'ga', `${command}\n`, pattern, 30_000);
  const [, port] = /port=(vport\d+p\d+)\b/.exec(await typed(`kill $(pidof lodge-ga); ${portOf('org.qemu.guest_agent.0')}`, /port=vport\d+p\d+\b/))!;
  const refused = async (what: string) => {
    const t0 = Date.now();
    await assert.rejects(exec('ga', { command: ['true'] }), /exec in ga: its guest agent does not answer/, what);
    assert.ok(Date.now() - t0 < 10_000, `${what}: it took ${Date.now() - t0} ms`);
    assert.equal((await d.client.guests.get('ga')).state, 'running', `${what}: lodged answers on`);
  };
  const [, flood] = /flood=(\d+)/.exec(await typed(`(while true; do echo '{"return": {"pid": 1}} not json'; done) > /dev/${port} & echo flood=$!`, /flood=\d+/))!;
  await refused('answers before any sync delimiter');
  await typed(`kill ${flood}; (printf '\\377'; yes 0123456789abcdef | tr -d '\\n') > /dev/${port} & echo long=$!`, /long=\d+/);
  await refused('a line that never ends');
  // the port opens for one process at a time: tr, blocked on it, must be gone before the agent can have it
  // (on a loaded host that takes the slow guest more than the agent's 5 s of tries); the agent still runs once it has the port
  await typed(`kill $(pidof yes) $(pidof tr); while pidof yes tr >/dev/null; do sleep 0.2; done; (/sbin/lodge-ga </dev/null >/dev/null 2>&1 &); sleep 2; echo agent=$(pidof lodge-ga)`, /agent=\d+/);
  let back: string | undefined;
  let why: unknown;
  for (let i = 0; i < 20 && back === undefined; i++) back = await exec('ga', { command: ['echo', 'back'] }).then((r) => r.stdout, (e) => void (why = e));
  assert.equal(back, 'back\n', `a new agent is heard again: stale bytes are skipped by the sync (the last try: ${why})`);
});

/** Console words that print the device of the virtio-serial port `name` as port=vportXpY. */
const portOf = (name: string) => `for p in /sys/class/virtio-ports/*; do [ "$(cat $p/name)" = ${name} ] && echo port=\${p##*/}; done`;

test('lodge exec streams in a vm through lodge-execd, as in a container', { timeout: 300_000 }, async () => {
  await assertExecStreams(d, 'ga');
  const cwd = d.lodge(['exec', 'ga', '--cwd', '/no/such/dir', 'pwd']);
  assert.deepEqual([cwd.code, cwd.stderr], [126, 'lodge: --cwd /no/such/dir: No such file or directory in ga\n']);
});

test('a hostile guest on the exec port (a frame of no known type) fails that exec, and lodge-execd back serves again', { timeout: 180_000 }, async () => {
  const typed = (command: string, pattern: RegExp) => consoleExpect(d, 'ga', `${command}\n`, pattern, 30_000);
  const [, port] = /port=(vport\d+p\d+)\b/.exec(await typed(`kill $(pidof lodge-execd); ${portOf('org.lodge.exec.0')}`, /port=vport\d+p\d+\b/))!;
  const [, hostile] = /hostile=(\d+)/.exec(await typed(`(while true; do printf '\\nLODGE-EXEC/1\\n\\377\\377\\377\\377\\377\\377\\377\\377\\377'; sleep 0.2; done) > /dev/${port} & echo hostile=$!`, /hostile=\d+/))!;
  let r = d.lodge(['exec', 'ga', '--', 'echo', 'hi']);
  for (let i = 0; i < 10 && r.code === 0; i++) r = d.lodge(['exec', 'ga', '--', 'echo', 'hi']);
  assert.match(r.stderr, /exec in ga: the exec agent sent a frame of unknown type 255/);
  assert.equal((await d.client.guests.get('ga')).state, 'running', 'lodged answers on');
  await typed(`kill ${hostile}; while kill -0 ${hostile} 2>/dev/null; do sleep 0.2; done; (/sbin/lodge-execd </dev/null >/dev/null 2>&1 &); sleep 2; echo agent=$(pidof lodge-execd)`, /agent=\d+/);
  let back: string | undefined;
  for (let i = 0; i < 20 && back !== 'back\n'; i++) back = d.lodge(['exec', 'ga', '--', 'echo', 'back']).stdout;
  assert.equal(back, 'back\n');
});

test('a vm whose disk has no guest agent: exec fails within seconds, saying why', { timeout: 180_000 }, async () => {
  // a disk of one boot sector that halts: an OS without any agent
  const disk = path.join(work, 'halt.img');
  const image = Buffer.alloc(1 << 20);
  image.set([0xfa, 0xf4, 0xeb, 0xfd], 0); // cli; hlt; jmp back to hlt
  image.set([0x55, 0xaa], 510);
  writeFileSync(disk, image);
  const imported = d.lodge(['image', 'import', disk, 'halt', '--type', 'raw']);
  assert.equal(imported.code, 0, imported.stderr);
  assert.equal(d.lodge(['launch', 'halt', 'noagent', '--kind', 'vm', '--memory', '128M']).code, 0);
  const t0 = Date.now();
  const r = d.lodge(['exec', 'noagent', '--', 'true']);
  const took = Date.now() - t0;
  assert.equal(r.code, 1);
  assert.match(r.stderr, /exec in noagent: its guest agent does not answer \(install qemu-guest-agent in the image, or wait for the boot to finish\)/);
  assert.ok(took < 10_000, `it took ${took} ms`);
  assert.equal((await d.client.guests.get('noagent')).state, 'running', 'the guest is left as it was');
  assert.equal(d.lodge(['delete', '--force', 'noagent']).code, 0);
});
