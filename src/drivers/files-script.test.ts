import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LodgeError } from '../api/errors.js';
import { filesAnswer, filesCommand, tempBeside } from './files-script.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-files-script-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const uid = String(process.getuid!());
const gid = String(process.getgid!());

/** The script run by a real shell, here on the host, as a guest's shell would run it: Debian's dash and busybox's ash. */
const shells = [['/bin/sh'], ['/bin/busybox', 'sh']];

function run(shell: string[], command: string[], what = 'cannot copy') {
  const [, ...rest] = command;
  const r = spawnSync(shell[0]!, [...shell.slice(1), ...rest], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
  return () => filesAnswer({ exitCode: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }, what);
}

const refused = (code: string, message: RegExp) => (e: unknown) => e instanceof LodgeError && e.code === code && message.test(e.message);

for (const shell of shells) {
  test(`${shell.join(' ')}: a push replaces a regular file whole, with its mode and owner, and makes parents when asked`, () => {
    const root = mkdtempSync(path.join(dir, 'push-'));
    const source = path.join(root, 'source');
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 256));
    writeFileSync(source, bytes);
    const target = path.join(root, 'a/b/file');
    const push = (p: string, parents: string, mode = '4755') => run(shell, filesCommand('push', p, tempBeside(p), source, mode, uid, gid, parents), `cannot push ${p} into g`);
    assert.throws(push(target, '0'), refused('NOT_FOUND', new RegExp(`^cannot push ${target} into g: ${path.dirname(target)}: No such file or directory \\(--parents makes it\\)$`)));
    assert.deepEqual(push(target, '1')(), { mode: 0o4755, uid: Number(uid), gid: Number(gid), sizeBytes: bytes.length });
    assert.ok(readFileSync(target).equals(bytes));
    assert.equal(statSync(path.join(root, 'a')).mode & 0o7777, 0o755, 'parents are 0755');
    writeFileSync(target, 'old');
    assert.equal(push(target, '0', '600')().mode, 0o600);
    assert.ok(readFileSync(target).equals(bytes), 'an existing file is replaced');
    const kept = run(shell, filesCommand('push', target, tempBeside(target), source, '-', '-', '-', '0'), `cannot push ${target} into g`)();
    assert.deepEqual(kept, { mode: 0o600, uid: Number(uid), gid: Number(gid), sizeBytes: bytes.length }, "what is not asked for is the replaced file's");
    assert.deepEqual(readdirSync(path.dirname(target)), ['file'], 'no new file is left beside it');
  });

  test(`${shell.join(' ')}: a push refuses what is not a regular file, and leaves nothing behind`, () => {
    const root = mkdtempSync(path.join(dir, 'refuse-'));
    const source = path.join(root, 'source');
    writeFileSync(source, 'x');
    mkdirSync(path.join(root, 'd'));
    writeFileSync(path.join(root, 'secret'), 'kept');
    symlinkSync(path.join(root, 'secret'), path.join(root, 'link'));
    execFileSync('mkfifo', [path.join(root, 'fifo')]);
    const push = (p: string) => run(shell, filesCommand('push', p, tempBeside(p), source, '644', uid, gid, '1'));
    assert.throws(push(path.join(root, 'd')), refused('BAD_REQUEST', /\/d is a directory$/));
    assert.throws(push(path.join(root, 'link')), refused('BAD_REQUEST', /\/link is a symbolic link$/));
    assert.throws(push(path.join(root, 'fifo')), refused('BAD_REQUEST', /\/fifo is a FIFO$/));
    assert.throws(push(path.join(root, 'source/x')), refused('BAD_REQUEST', /\/source: Not a directory$/));
    assert.throws(push(`${root}/d/`), refused('BAD_REQUEST', /\/d\/ names no file$/));
    assert.throws(push(`${root}/d/..`), refused('BAD_REQUEST', /names no file$/));
    assert.equal(readFileSync(path.join(root, 'secret'), 'utf8'), 'kept');
    assert.deepEqual(readdirSync(root).sort(), ['d', 'fifo', 'link', 'secret', 'source']);
    assert.deepEqual(readdirSync(path.join(root, 'd')), []);
  });

  test(`${shell.join(' ')}: prepare and finish around a copy of its own (the vm way); a failed finish removes the new file`, () => {
    const root = mkdtempSync(path.join(dir, 'steps-'));
    const target = path.join(root, 'f');
    const temp = tempBeside(target);
    assert.deepEqual(run(shell, filesCommand('prepare', target, temp, '0'))(), { mode: 0o600, uid: Number(uid), gid: Number(gid), sizeBytes: 0 });
    writeFileSync(temp, 'content');
    assert.deepEqual(run(shell, filesCommand('finish', target, temp, '640', uid, gid))(), { mode: 0o640, uid: Number(uid), gid: Number(gid), sizeBytes: 7 });
    const again = tempBeside(target);
    run(shell, filesCommand('prepare', target, again, '0'));
    rmSync(target);
    mkdirSync(target);
    assert.throws(run(shell, filesCommand('finish', target, again, '640', uid, gid)), /\/f is a directory$/, 'a directory that came meanwhile');
    assert.equal(existsSync(again), false);
  });

  test(`${shell.join(' ')}: stat and pull take a regular file (links followed) up to the cap, and name what else is there`, () => {
    const root = mkdtempSync(path.join(dir, 'pull-'));
    writeFileSync(path.join(root, 'f'), 'twelve bytes', { mode: 0o640 });
    symlinkSync('f', path.join(root, 'link'));
    mkdirSync(path.join(root, 'd'));
    symlinkSync('d', path.join(root, 'dlink'));
    execFileSync('mkfifo', [path.join(root, 'fifo')]);
    const info = { mode: 0o640, uid: Number(uid), gid: Number(gid), sizeBytes: 12 };
    assert.deepEqual(run(shell, filesCommand('stat', path.join(root, 'link'), '100'))(), info);
    const dest = path.join(root, 'copy');
    assert.deepEqual(run(shell, filesCommand('pull', path.join(root, 'f'), '12', dest))(), info);
    assert.equal(readFileSync(dest, 'utf8'), 'twelve bytes');
    assert.equal(statSync(dest).mode & 0o777, 0o600);
    const pull = (p: string, max = '100') => run(shell, filesCommand('pull', path.join(root, p), max, path.join(root, 'never')), `cannot pull /${p} from g`);
    assert.throws(pull('f', '11'), refused('BAD_REQUEST', /\/f is 12 bytes, more than the 11 lodged takes$/));
    assert.throws(pull('nope'), refused('NOT_FOUND', /^cannot pull \/nope from g: .*\/nope: No such file or directory$/));
    assert.throws(pull('d'), refused('BAD_REQUEST', /\/d is a directory$/));
    assert.throws(pull('dlink'), refused('BAD_REQUEST', /\/dlink is a directory$/));
    assert.throws(pull('fifo'), refused('BAD_REQUEST', /\/fifo is a FIFO$/));
    assert.equal(existsSync(path.join(root, 'never')), false);
  });
}

test("an answer that is neither ok nor the script's refusal is the engine's failure, the guest's words cut and cleaned", () => {
  assert.throws(() => filesAnswer({ exitCode: 2, stdout: '', stderr: `sh: bad\x1b[2J${'x'.repeat(1000)}\n` }, 'cannot pull /f from g'), (e: LodgeError) => e.code === 'ENGINE_FAILED' && /^cannot pull \/f from g: the guest's shell ended with status 2: sh: bad \[2Jx+$/.test(e.message) && e.message.length < 400);
  assert.throws(() => filesAnswer({ exitCode: 0, stdout: 'ok nonsense\n', stderr: '' }, 'w'), /status 0/);
});
