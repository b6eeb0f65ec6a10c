/**
 * lodge-shim on its own and under a real container: the command it runs starts as from a
 * clean exec (no signal ignored or blocked, no descriptor but its stdio), the console log
 * keeps its newest bytes, a runtime's error keeps its last words, and a console socket
 * peer that sends anything but one descriptor is refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { guestPid, requireEngines, requireProgram, TestDaemon } from './harness.js';

const shimBinary = fileURLToPath(new URL('../../shim/lodge-shim', import.meta.url));
const SIGPIPE_BIT = 1n << 12n;

let tmp = '';
before(() => {
  requireEngines();
  requireProgram('python3', 'python3');
  tmp = mkdtempSync('/tmp/lodge-shim-t-');
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the shim as lodged does, with an extra descriptor (3) open in the caller, and returns its outcome line. */
async function runShim(dir: string, args: string[]): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const child = spawn(shimBinary, ['--dir', dir, ...args], { stdio: ['ignore', 'pipe', 'ignore', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  // the outcome line comes before the caller's child exits; a shim that kept the caller's
  // descriptors would hold the pipes open, so the wait is for the line, not for their end
  await new Promise((r) => child.once('exit', r));
  for (let i = 0; i < 50 && !out.includes('\n'); i++) await sleep(20);
  child.stdout!.destroy();
  child.stdio[3]?.destroy();
  return out.trim();
}

function statusField(pid: number, field: string): bigint {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return BigInt(`0x${line!.split(/\s+/)[1]}`);
}

/** The command's descriptors once its dynamic loader is done (ld.so holds its cache and libraries on 3 for a moment). */
async function settledFds(pid: number): Promise<string[]> {
  let last = '';
  for (let i = 0; i < 40; i++) {
    const now = readdirSync(`/proc/${pid}/fd`).sort().join(',');
    if (now === last) break;
    last = now;
    await sleep(30);
  }
  return last.split(',');
}

async function waitForFile(file: string, timeoutMs: number): Promise<void> {
  for (const end = Date.now() + timeoutMs; !existsSync(file) && Date.now() < end; ) await sleep(20);
}

test('the command starts with every signal at its default, none blocked, and only its stdio open', async () => {
  const dir = path.join(tmp, 'clean');
  const line = await runShim(dir, ['--', 'sleep', '30']);
  const ok = /^ok (\d+) (\d+)$/.exec(line);
  assert.ok(ok, line);
  const main = Number(ok[2]);
  try {
    assert.equal(statusField(main, 'SigIgn'), 0n, 'no signal ignored');
    assert.equal(statusField(main, 'SigBlk'), 0n, 'no signal blocked');
    assert.deepEqual(await settledFds(main), ['0', '1', '2']);
    // the shim keeps only what it needs: no descriptor of its caller
    const shimFds = readdirSync(`/proc/${ok[1]}/fd`).map((fd) => readlinkSync(`/proc/${ok[1]}/fd/${fd}`));
    assert.deepEqual(shimFds.filter((f) => f.startsWith('pipe:')), [], 'the caller\'s pipe stays with the caller');
  } finally {
    process.kill(main, 'SIGTERM');
  }
  await waitForFile(path.join(dir, 'exit'), 5000);
  assert.equal(readFileSync(path.join(dir, 'exit'), 'utf8'), 'signal 15\n');
  assert.equal(existsSync(path.join(dir, 'exit.tmp')), false);
});

test('--channel: the command gets a line on fds 4 and 5, served on exec.sock once it has spoken there, to one client at a time', async () => {
  const dir = path.join(tmp, 'channel');
  // the command says hello unasked (nobody is there to hear it), then echoes what it reads
  const line = await runShim(dir, ['--channel', '--', 'sh', '-c', 'sleep 0.3; echo hello >&5; exec cat <&4 >&5']);
  const main = Number(/^ok \d+ (\d+)$/.exec(line)![1]);
  try {
    assert.deepEqual(await settledFds(main), ['0', '1', '2', '4', '5']);
    assert.equal(existsSync(path.join(dir, 'exec.sock')), false, 'no socket before the command speaks');
    await waitForFile(path.join(dir, 'exec.sock'), 5000);
    const client = net.connect(path.join(dir, 'exec.sock'));
    let heard = '';
    client.on('data', (b: Buffer) => (heard += b.toString()));
    await new Promise((r) => client.once('connect', r));
    const second = net.connect(path.join(dir, 'exec.sock'));
    const refused = await new Promise((r) => second.once('close', () => r(true)).once('error', () => r(true)));
    assert.ok(refused, 'a second client is closed at once');
    const big = 'x'.repeat(300_000);
    client.write(`ping\n${big}\n`);
    for (let i = 0; i < 250 && heard.length < big.length + 5; i++) await sleep(20);
    assert.equal(heard, `ping\n${big}\n`, 'both ways, past the pipes\' buffers, and nothing said before the client came');
    client.destroy();
  } finally {
    process.kill(main, 'SIGTERM');
  }
  await waitForFile(path.join(dir, 'exit'), 5000);
  assert.equal(existsSync(path.join(dir, 'exec.sock')), false, 'the socket goes with the command');
});

test('the pid reported is the command itself, after its exec; a command that cannot run is an error with its reason', async () => {
  // the report comes once the exec is done: the process reported is already the command
  const line = await runShim(path.join(tmp, 'exec'), ['--', 'sleep', '30']);
  const main = Number(/^ok \d+ (\d+)$/.exec(line)![1]);
  try {
    assert.equal(readlinkSync(`/proc/${main}/exe`), execFileSync('sh', ['-c', 'readlink -f "$(command -v sleep)"']).toString().trim());
  } finally {
    process.kill(main, 'SIGTERM');
  }
  const missing = await runShim(path.join(tmp, 'missing'), ['--', '/nonexistent/engine']);
  assert.equal(missing, 'error cannot run /nonexistent/engine: No such file or directory');
});

test('the console log keeps the newest bytes, in order, within twice its cap', async () => {
  const dir = path.join(tmp, 'log');
  // 3000 numbered lines in bursts, far past the 4096-byte cap
  const line = await runShim(dir, ['--log-max', '4096', '--', 'sh', '-c', 'for i in $(seq 1 3000); do echo "line $i"; done']);
  assert.match(line, /^ok /);
  await waitForFile(path.join(dir, 'exit'), 10_000);
  const old = readFileSync(path.join(dir, 'console.log.1'), 'utf8');
  const cur = readFileSync(path.join(dir, 'console.log'), 'utf8');
  assert.ok(old.length <= 4096 && cur.length <= 4096, `${old.length} and ${cur.length} bytes`);
  const kept = (old + cur).replace(/\r/g, '');
  assert.ok(kept.length >= 4096 - 4096 / 8, `only ${kept.length} bytes kept`);
  assert.ok(kept.endsWith('line 2999\nline 3000\n'), kept.slice(-40));
  const all = Array.from({ length: 3000 }, (_, i) => `line ${i + 1}\n`).join('');
  assert.ok(all.endsWith(kept), 'what is kept is the tail of what was printed, whole');
});

test("a runtime's failure is reported with the end of what it said", async () => {
  const dir = path.join(tmp, 'fail');
  // 4080 bytes of noise, then the reason: the old tail-keeping kept a fragment of it
  const script = 'head -c 4080 /dev/zero | tr "\\0" x >&2; echo "REASON: the runtime refused the bundle" >&2; exit 1';
  const line = await runShim(dir, ['--console-socket', '--pidfile', path.join(dir, 'pid'), '--', 'sh', '-c', script]);
  assert.match(line, /^error sh failed: x+REASON: the runtime refused the bundle$/);
  assert.ok(line.length > 1000, 'the tail kept is more than a fragment');
});

/** A stand-in runtime: connects to the console socket and sends what `sendFds` says, then writes a pid. */
function fakeRuntime(dir: string, fds: number): string[] {
  const py = `
import socket, array, os, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
fds = [os.open('/dev/null', os.O_RDWR) for _ in range(int(sys.argv[2]))]
anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', fds).tobytes())] if fds else []
s.sendmsg([b'x'], anc)
open(sys.argv[3], 'w').write(str(os.getpid()))`;
  return ['python3', '-c', py, path.join(dir, 'console.sock'), String(fds), path.join(dir, 'pid')];
}

test('a console socket peer that sends no descriptor, or more than one (more than fit, too), is refused', async () => {
  for (const fds of [0, 2, 5]) {
    const dir = path.join(tmp, `cmsg-${fds}`);
    const line = await runShim(dir, ['--console-socket', '--pidfile', path.join(dir, 'pid'), '--', ...fakeRuntime(dir, fds)]);
    // a shim that took the bait waits for a process that is gone: it is ended here
    const taken = /^ok (\d+)/.exec(line);
    if (taken) process.kill(Number(taken[1]), 'SIGKILL');
    assert.equal(line, 'error python3 sent no console', `${fds} descriptors`);
  }
});

test("a container's init starts with no signal ignored", async () => {
  const d = new TestDaemon();
  try {
    await d.start();
    // an image whose init is a shell script: what it inherits is what the shim and the runtime gave it
    const root = path.join(d.dir, 'root');
    mkdirSync(path.join(root, 'bin'), { recursive: true });
    execFileSync('cp', ['/bin/busybox', path.join(root, 'bin/busybox')]);
    writeFileSync(path.join(root, 'init.sh'), '#!/bin/busybox sh\ngrep ^Sig /proc/self/status\nexec /bin/busybox sleep 1000\n', { mode: 0o755 });
    execFileSync('tar', ['-C', root, '-cf', path.join(d.dir, 'init.tar'), '.']);
    const imported = d.lodge(['image', 'import', path.join(d.dir, 'init.tar'), 'shinit', '--init', '/init.sh']);
    assert.equal(imported.code, 0, imported.stderr);
    await d.done(await d.client.guests.launch({ name: 'sigs', image: 'shinit' }));
    const pid = await guestPid(d, 'sigs');
    for (let i = 0; i < 100 && !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sleep'); i++) await sleep(50);
    // none at all: also not glibc's own two (32, 33), which lodged's side ignores and glibc's signal() cannot reset
    assert.equal(statusField(pid, 'SigIgn'), 0n, `SigIgn ${statusField(pid, 'SigIgn').toString(16)}`);
    assert.equal(statusField(pid, 'SigBlk'), 0n);
    // as the script saw it
    assert.match(d.lodge(['console', 'sigs', '--log']).stdout, /SigIgn:\s+0{16}\r?\n/);
  } finally {
    await d.cleanup();
  }
});

test("a pv engine (UML) starts with SIGPIPE at its default and none of its caller's descriptors", async () => {
  requireProgram('/usr/bin/linux.uml', 'user-mode-linux');
  const d = new TestDaemon();
  try {
    await d.start();
    await d.buildBusybox();
    await d.launch('uml', { kind: 'pv' });
    const pid = await guestPid(d, 'uml');
    for (let i = 0; i < 200 && readlinkSync(`/proc/${pid}/exe`) !== '/usr/bin/linux.uml'; i++) await sleep(25);
    assert.equal(readlinkSync(`/proc/${pid}/exe`), '/usr/bin/linux.uml');
    // UML ignores SIGHUP of its own accord; SIGPIPE it leaves as it found it
    assert.equal(statusField(pid, 'SigIgn') & SIGPIPE_BIT, 0n, `SigIgn ${statusField(pid, 'SigIgn').toString(16)}`);
    // beside its stdio (the console's pty) and lodge-execd's line (the shim's two pipes, 4 and 5), only what UML
    // opens itself: no second handle on the pty, no pipe of lodged's
    const fds = readdirSync(`/proc/${pid}/fd`).map((fd) => [Number(fd), readlinkSync(`/proc/${pid}/fd/${fd}`)] as const);
    assert.deepEqual(
      fds.filter(([fd, target]) => fd > 2 && (target.startsWith('/dev/pts/') || target.startsWith('pipe:'))).map(([fd]) => fd),
      [4, 5],
    );
  } finally {
    await d.cleanup();
  }
});
