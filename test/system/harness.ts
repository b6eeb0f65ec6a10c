/**
 * @module The system tests' harness: a private lodged in a temporary directory (its own
 * socket, state, runtime root), the CLI pointed at it, and a cleanup that leaves no guest,
 * mount, cgroup or directory behind, also when a test failed.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import type { ImagesBuildPost } from '../../src/api/images.js';
import type { Operation } from '../../src/api/operations.js';
import { LodgeError } from '../../src/api/errors.js';
import { LodgeClient } from '../../src/client/index.js';

const dist = fileURLToPath(new URL('../../', import.meta.url));
export const lodgedBin = path.join(dist, 'src/daemon/main.js');
export const lodgeBin = path.join(dist, 'src/cli/lodge.js');

/** Real-engine tests never skip: a missing program fails the test and names its Debian package. */
export function requireProgram(binary: string, pkg: string): void {
  const found = binary.startsWith('/') ? existsSync(binary) : spawnSync('which', [binary]).status === 0;
  if (!found) throw new Error(`${binary} is missing: install the Debian package ${pkg} (scripts/install-deps.sh does)`);
}

export function requireEngines(): void {
  requireProgram('runc', 'runc');
  requireProgram('/bin/busybox', 'busybox-static');
  if (process.getuid?.() !== 0) throw new Error('the system tests run as root: they make namespaces, mounts and cgroups');
}

/** Network namespaces made by this test process so far (their names carry it). */
let namespaces = 0;

export class TestDaemon {
  readonly dir: string;
  readonly socket: string;
  readonly stateDir: string;
  readonly client: LodgeClient;
  private proc: ChildProcess | undefined;
  /** The daemon's instance id: host-wide names (cgroups, runtime ids) carry it. */
  instance: string | undefined;
  stderr = '';

  /** A network namespace of the test's own that lodged runs in, if any. */
  readonly netns: string | undefined;

  /** lodged's own flags beyond socket and state. */
  readonly args: string[];

  /** Whether this daemon made its namespace (and removes it), or joined another daemon's. */
  private readonly ownsNetns: boolean;

  /** netns: a namespace of its own (true), or the name of another daemon's to run beside it. */
  constructor(options: { netns?: boolean | string; args?: string[] } = {}) {
    requireEngines();
    // short: unix socket paths inside must stay under 108 bytes
    this.dir = mkdtempSync('/tmp/lodge-t-');
    chmodSync(this.dir, 0o711); // unprivileged guests' init passes through it to their root
    this.socket = path.join(this.dir, 'lodge.sock');
    this.stateDir = path.join(this.dir, 'state');
    this.client = new LodgeClient(this.socket);
    this.args = options.args ?? [];
    this.ownsNetns = options.netns === true;
    if (typeof options.netns === 'string') this.netns = options.netns;
    if (options.netns === true) {
      // the network tests' only wire: nothing in it is routed anywhere
      this.netns = `lodge-t-${process.pid}-${namespaces++}`;
      execFileSync('ip', ['netns', 'add', this.netns]);
      execFileSync('ip', ['-n', this.netns, 'link', 'set', 'lo', 'up']);
    }
  }

  /** Runs argv inside the test's network namespace. */
  inNetns(argv: string[]): { code: number; stdout: string; stderr: string } {
    const r = spawnSync('ip', ['netns', 'exec', this.netns!, ...argv], { encoding: 'utf8', timeout: 30_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(): Promise<void> {
    const argv = [process.execPath, lodgedBin, '--socket', this.socket, '--state-dir', this.stateDir, ...this.args];
    // nsenter joins the network namespace only (not its mounts, as ip netns exec would) and execs lodged in its place;
    // outside one, no network at all: nothing is made on the host's own
    if (this.netns) argv.unshift('nsenter', `--net=/run/netns/${this.netns}`);
    else argv.push('--no-default-network');
    const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.proc = proc;
    for (let i = 0; i < 200; i++) {
      if (proc.exitCode !== null) throw new Error(`lodged exited at start: ${this.stderr}`);
      try {
        this.instance = (await this.client.host()).instance;
        return;
      } catch {
        await sleep(50);
      }
    }
    throw new Error(`lodged did not answer: ${this.stderr}`);
  }

  /** kill -9: the daemon dies at once, its guests do not. */
  async kill9(): Promise<void> {
    const proc = this.proc!;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
    this.proc = undefined;
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
    this.proc = undefined;
  }

  async buildBusybox(): Promise<void> {
    await this.done(await this.client.images.build({ name: 'busybox' }));
  }

  /** Waits for an operation and fails with its error if it failed. */
  async done(op: Operation, timeoutSeconds = 120): Promise<Operation> {
    const end = await this.client.operations.wait(op.id, timeoutSeconds);
    if (end.status !== 'success') throw new Error(`${op.action} ${op.target}: ${end.status}: ${JSON.stringify(end.error)}`);
    return end;
  }

  async launch(name: string, extra: Partial<Parameters<LodgeClient['guests']['launch']>[0]> = {}): Promise<void> {
    await this.done(await this.client.guests.launch({ name, image: 'busybox', ...extra }));
  }

  /** The CLI on this daemon's socket; `env` adds to or overrides its environment (a remote's config). */
  lodge(args: string[], input?: string, env: NodeJS.ProcessEnv = {}): { code: number; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [lodgeBin, ...args], { env: { ...process.env, LODGE_SOCKET: this.socket, ...env }, input: input ?? '', encoding: 'utf8', timeout: 120_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  runtimeContainers(): string[] {
    const root = path.join(this.stateDir, 'runtime');
    return existsSync(root) ? readdirSync(root) : [];
  }

  private allMounts(): string[] {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(this.dir));
  }

  /** Where this daemon's storage pools are mounted (a btrfs pool's filesystem). */
  poolMounts(): string[] {
    const storage = path.join(this.stateDir, 'storage');
    return this.allMounts().filter((m) => path.dirname(m) === storage);
  }

  /** Mount points under this daemon's directory but its pools': what guests and their volumes mounted. */
  mounts(): string[] {
    const pools = this.poolMounts();
    return this.allMounts().filter((m) => !pools.includes(m));
  }

  /** Root volumes in this daemon's pools, as POOL/ID. */
  rootVolumes(): string[] {
    const storage = path.join(this.stateDir, 'storage');
    if (!existsSync(storage)) return [];
    return readdirSync(storage).flatMap((pool) => {
      const guests = path.join(storage, pool, 'guests');
      return existsSync(guests) ? readdirSync(guests).map((v) => `${pool}/${v}`) : [];
    });
  }

  /** cgroups of this daemon's guests (named after its instance id). */
  cgroups(): string[] {
    const instance = this.instance;
    if (!instance) return [];
    const found: string[] = [];
    // every hierarchy the host mounts (cpu and cpuacct, blkio, devices, ... on v1; the one tree on v2)
    for (const controller of readdirSync('/sys/fs/cgroup')) {
      const dir = `/sys/fs/cgroup/${controller}/lodge`;
      if (existsSync(dir)) found.push(...readdirSync(dir).filter((d) => d.startsWith(`${instance}-`)).map((d) => `${controller}/lodge/${d}`));
    }
    return found;
  }

  /** Removes everything: guests through the API when it answers, then by hand whatever is left. */
  async cleanup(): Promise<void> {
    try {
      // a lodged that died (a test that found a crash) is started again to delete its guests
      if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) await this.start();
      for (const g of await this.client.guests.list()) await this.client.operations.wait((await this.client.guests.delete(g.name, true)).id, 60);
    } catch {
      // fall through to the manual sweep
    }
    await this.stop().catch(() => {});
    const root = path.join(this.stateDir, 'runtime');
    for (const id of this.runtimeContainers()) spawnSync('runc', ['--root', root, 'delete', '--force', id]);
    for (const cg of this.cgroups()) {
      try {
        rmdirSync(`/sys/fs/cgroup/${cg}`);
      } catch {
        // a cgroup with processes left cannot go; the assertion in the test reports it
      }
    }
    for (const m of this.allMounts().sort((a, b) => b.length - a.length)) spawnSync('umount', ['--lazy', m]);
    if (this.netns && this.ownsNetns) {
      // what still runs in it is ours (the networks' dnsmasq): end it by pid, then the namespace
      for (const pid of spawnSync('ip', ['netns', 'pids', this.netns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) spawnSync('kill', ['-9', pid]);
      spawnSync('ip', ['netns', 'del', this.netns]);
    } else if (this.netns) {
      // a namespace shared with another daemon: only what runs from this daemon's state (its dnsmasq)
      spawnSync('pkill', ['-9', '-f', `${this.stateDir}/`]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Reads from a guest's live console until `pattern` shows up, typing `input` first, and
 * again every `retypeMs` (for a guest whose shell may not have started yet).
 */
export async function consoleExpect(d: TestDaemon, name: string, input: string, pattern: RegExp, timeoutMs = 10_000, retypeMs?: number): Promise<string> {
  const ws = new WebSocket(d.client.guests.consoleUrl(name));
  let seen = '';
  let retype: NodeJS.Timeout | undefined;
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`console of ${name} never showed ${pattern}; it showed: ${JSON.stringify(seen.slice(-500))}`)), timeoutMs);
      ws.on('open', () => {
        const type = () => ws.send(Buffer.from(input), { binary: true });
        type();
        if (retypeMs) retype = setInterval(() => !pattern.test(seen) && type(), retypeMs);
      });
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary) return reject(new Error(`console refused: ${data.toString()}`));
        seen += data.toString();
        if (pattern.test(seen)) {
          clearTimeout(timer);
          resolve(seen);
        }
      });
      ws.on('error', reject);
    });
  } finally {
    clearInterval(retype);
    ws.close();
  }
}

/** Images built once per test run and shared by its test files: scripts/test.sh names a directory for them. */
const imageCache = process.env.LODGE_TEST_IMAGES;
const cachedTarball = (image: string) => path.join(imageCache!, `${image.replace(/\//g, '_')}.tar`);

/** After a daemon built `image`: its rootfs is kept as a tarball for the test files after this one. */
export function keepBuiltImage(d: TestDaemon, image: string): void {
  if (!imageCache || existsSync(cachedTarball(image))) return;
  const tmp = `${cachedTarball(image)}.tmp`;
  execFileSync('tar', ['-C', path.join(d.stateDir, 'images', image.replace(/\//g, '_'), 'rootfs'), '-cf', tmp, '.']);
  renameSync(tmp, cachedTarball(image));
}

/**
 * A tarball of `image`'s rootfs: this test run's, or built by a lodged of its own outside any
 * network namespace (debootstrap needs the mirror) and kept for the test files after this one.
 */
export async function builtImageTarball(image: ImagesBuildPost['name'], scratch: string): Promise<string> {
  if (imageCache && existsSync(cachedTarball(image))) return cachedTarball(image);
  const outside = new TestDaemon();
  try {
    await outside.start();
    await outside.done(await outside.client.images.build({ name: image }), 840);
    if (imageCache) {
      keepBuiltImage(outside, image);
      return cachedTarball(image);
    }
    const tarball = path.join(scratch, `${image.replace(/\//g, '_')}.tar`);
    execFileSync('tar', ['-C', path.join(outside.stateDir, 'images', image.replace(/\//g, '_'), 'rootfs'), '-cf', tarball, '.']);
    return tarball;
  } finally {
    await outside.cleanup();
  }
}

/** Polls until the guest is in `state` (guests that end on their own take a moment to be seen). */
export async function waitForState(d: TestDaemon, name: string, state: string, timeoutMs: number): Promise<Awaited<ReturnType<LodgeClient['guests']['get']>>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const g = await d.client.guests.get(name);
    if (g.state === state || Date.now() > deadline) return g;
    await sleep(250);
  }
}

/** The host-side pid of a running guest's init. */
export async function guestPid(d: TestDaemon, name: string): Promise<number> {
  const g = await d.client.guests.get(name);
  if (!g.pid) throw new Error(`${name} has no pid (state ${g.state})`);
  return g.pid;
}

/** CPU seconds (user and system) of every process in a cgroup of the pids controller. */
export function cgroupCpuSeconds(dir: string): number {
  let ticks = 0;
  for (const pid of readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // it ended meanwhile
    }
  }
  return ticks / 100;
}

/** The host-side cgroup directory of a guest's init for one v1 controller. */
export function hostCgroup(pid: number, controller: string): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1]?.split(',').includes(controller));
  if (!line) throw new Error(`no ${controller} cgroup for ${pid}`);
  return `/sys/fs/cgroup/${controller}${line.split(':')[2]}`;
}

/**
 * Runs a shell line in a guest and gives its output; tried again for about a minute while a
 * guest that has just started has no agent yet; a non-zero exit fails.
 */
export async function guestSh(d: TestDaemon, name: string, script: string): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      const r = await d.client.guests.exec(name, { command: ['sh', '-c', script] });
      assert.equal(r.exitCode, 0, `${script}: ${r.stderr}`);
      return r.stdout;
    } catch (e) {
      if (i >= 60 || !(e instanceof LodgeError) || e.code === 'BAD_REQUEST') throw e;
      await sleep(1000);
    }
  }
}

/** lodge exec as a child, its stdout read as it comes: each line with when it came. */
export function execChild(d: TestDaemon, args: string[]) {
  const child = spawn(process.execPath, [lodgeBin, 'exec', ...args], { env: { ...process.env, LODGE_SOCKET: d.socket }, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: Array<{ line: string; at: number }> = [];
  let stderr = '';
  let partial = '';
  child.stdout.on('data', (b: Buffer) => {
    const parts = (partial + b.toString()).split('\n');
    partial = parts.pop()!;
    for (const line of parts) lines.push({ line, at: Date.now() });
  });
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exit = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  const waitFor = async (line: string) => {
    for (let i = 0; i < 300 && !lines.some((l) => l.line === line); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(lines.some((l) => l.line === line), `"${line}" never came: ${JSON.stringify(lines)} ${stderr}`);
  };
  return { child, lines, exit, waitFor, stderr: () => stderr };
}

/**
 * What lodge exec does the same in every kind: lines seen as they are written, 50 MiB
 * through stdin and back (far past every window and pipe buffer on the way), Ctrl-C to the
 * command, 127 for a missing one, options on either side of the name and the command without
 * --, and a command that ends however much is still piped in.
 */
export async function assertExecStreams(d: TestDaemon, name: string): Promise<void> {
  const ticks = execChild(d, [name, '--', 'sh', '-c', 'for i in 1 2 3; do echo tick $i; sleep 1; done']);
  assert.equal(await ticks.exit, 0, ticks.stderr());
  const at = ticks.lines.map((l) => l.at);
  // a line a second, each seen as it was written: the first a good two seconds before the last
  assert.deepEqual(ticks.lines.map((l) => l.line), ['tick 1', 'tick 2', 'tick 3']);
  assert.ok(at[2]! - at[0]! >= 1500, `lines came together, not as written: ${at.map((t) => t - at[0]!)}`);

  const input = Buffer.alloc(50 * 1024 * 1024);
  for (let i = 0; i < input.length; i += 4) input.writeUInt32LE((i * 2654435761) >>> 0, i);
  const cat = spawn(process.execPath, [lodgeBin, 'exec', name, '--', 'cat'], { env: { ...process.env, LODGE_SOCKET: d.socket } });
  const chunks: Buffer[] = [];
  let catErr = '';
  cat.stdout.on('data', (b: Buffer) => chunks.push(b));
  cat.stderr.on('data', (b: Buffer) => (catErr += b.toString()));
  cat.stdin.on('error', () => {}); // a lodge that ended early says why on stderr
  cat.stdin.end(input);
  assert.equal(await new Promise((r) => cat.on('close', r)), 0, catErr);
  const output = Buffer.concat(chunks);
  assert.equal(output.length, input.length);
  assert.ok(output.equals(input), 'the bytes came back as they went');

  const trapped = execChild(d, [name, 'sh', '-c', 'trap "echo got INT; exit 42" INT; echo ready; while true; do sleep 0.1; done']);
  await trapped.waitFor('ready');
  trapped.child.kill('SIGINT');
  assert.equal(await trapped.exit, 42, trapped.stderr());
  assert.ok(trapped.lines.some((l) => l.line === 'got INT'));

  const missing = d.lodge(['exec', name, 'nosuch', '--flag']);
  assert.deepEqual([missing.code, missing.stderr], [127, `lodge: nosuch: command not found in ${name}\n`]);
  const both = d.lodge(['exec', '-e', 'A=1', name, '--cwd', '/etc', 'sh', '-c', 'echo $A $(pwd); echo err >&2; exit 3']);
  assert.deepEqual([both.code, both.stdout, both.stderr], [3, '1 /etc\n', 'err\n']);
  const ls = d.lodge(['exec', name, 'ls', '-d', '/etc']);
  assert.deepEqual([ls.code, ls.stdout], [0, '/etc\n']);

  // the command ends, and lodge with it, however much is still piped in
  const yes = spawnSync('sh', ['-c', `yes | "${process.execPath}" "${lodgeBin}" exec ${name} -- head -1`], { env: { ...process.env, LODGE_SOCKET: d.socket }, encoding: 'utf8', timeout: 30_000 });
  assert.deepEqual([yes.status, yes.stdout], [0, 'y\n']);
}
