/**
 * lodge-files itself (shim/lodge-files.c), on real processes and directories: it enters
 * the root of the process it was told of or none (a pid reused since is refused), never
 * the host's own /, and a push that fails leaves nothing of itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseStat } from '../../host/processes.js';

const helper = fileURLToPath(new URL('../../../shim/lodge-files', import.meta.url));
const files = (...args: string[]) => spawnSync(helper, ['--owner', '0', '0', ...args], { encoding: 'utf8' });

test('a running guest is entered through the process it was told of: another process of its pid, or the host, is refused', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-files-'));
  const sleeper = spawn('sleep', ['30']);
  t.after(() => {
    sleeper.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  const { startTime } = parseStat(readFileSync(`/proc/${sleeper.pid}/stat`, 'utf8'))!;
  const reused = files('--proc', String(sleeper.pid), String(startTime + 1), 'pull', '/etc/hostname', path.join(dir, 'a'), '4096');
  assert.deepEqual({ status: reused.status, stderr: reused.stderr }, { status: 1, stderr: `lodge-files: the guest's init (pid ${sleeper.pid}) has ended\n` });
  // the very process, but its root is the host's: never a guest's
  const host = files('--proc', String(sleeper.pid), String(startTime), 'pull', '/etc/hostname', path.join(dir, 'b'), '4096');
  assert.deepEqual({ status: host.status, stderr: host.stderr }, { status: 111, stderr: "lodge-files: the guest's root is the host's /: refused\n" });
});

test('a push that fails part-way leaves nothing of itself; one that works replaces the file whole', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-files-'));
  const root = path.join(dir, 'root');
  t.after(() => {
    spawnSync('umount', [path.join(root, 'small')]);
    rmSync(dir, { recursive: true, force: true });
  });
  mkdirSync(path.join(root, 'small'), { recursive: true });
  assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', path.join(root, 'small')]).status, 0);
  writeFileSync(path.join(dir, 'big'), Buffer.alloc(1 << 20, 1));
  const full = files('--root', root, 'push', '/small/f', path.join(dir, 'big'), '-', '-', '-', '0');
  assert.equal(full.status, 1);
  assert.match(full.stderr, /^lodge-files: writing \/small\/f: No space left on device\n$/);
  assert.deepEqual(readdirSync(path.join(root, 'small')), []);
  writeFileSync(path.join(dir, 'small'), 'x');
  const ok = files('--root', root, 'push', '/small/f', path.join(dir, 'small'), '640', '-', '-', '0');
  assert.deepEqual({ status: ok.status, stdout: ok.stdout }, { status: 0, stdout: 'ok 640 0 0 1\n' });
  assert.deepEqual(readdirSync(path.join(root, 'small')), ['f']);
});
