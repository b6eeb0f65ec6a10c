import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { shellFailure, startFailure } from './exec-stream.js';

test("runc's failures to start a command read as a shell's", () => {
  assert.deepEqual(shellFailure('exec failed: unable to start container process: exec: "nosuch": executable file not found in $PATH', 'web1', 'nosuch'), {
    message: 'lodge: nosuch: command not found in web1\n',
    exitCode: 127,
  });
  assert.deepEqual(shellFailure('exec failed: unable to start container process: exec: "/bin/nosuch": stat /bin/nosuch: no such file or directory', 'web1', '/bin/nosuch').exitCode, 127);
  assert.deepEqual(shellFailure('exec failed: unable to start container process: exec: "/nope": no such file or directory', 'web1', '/nope').exitCode, 127);
  assert.deepEqual(shellFailure('exec failed: unable to start container process: chdir to cwd ("/nope") set in config.json failed: no such file or directory', 'web1', 'sh'), {
    message: 'lodge: --cwd /nope: no such file or directory in web1\n',
    exitCode: 126,
  });
  assert.deepEqual(shellFailure('exec failed: unable to start container process: exec: "/etc/passwd": permission denied', 'web1', '/etc/passwd'), {
    message: 'lodge: cannot run /etc/passwd in web1: exec: "/etc/passwd": permission denied\n',
    exitCode: 126,
  });
});

test("a runc log's first error is the start failure; a log without one, or none, is a start", async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lodge-exec-log-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'log');
  assert.equal(await startFailure(log), undefined);
  await writeFile(log, '{"level":"warning","msg":"x"}\nnot json\n{"level":"error","msg":"exec failed: it broke","time":"t"}\n');
  assert.equal(await startFailure(log), 'exec failed: it broke');
  await writeFile(log, '{"level":"info","msg":"fine"}\n');
  assert.equal(await startFailure(log), undefined);
});
