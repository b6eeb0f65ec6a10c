import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentChannel, maxOutputBytes, requestScript } from './agent.js';

test('a request script quotes every word, whatever it holds', () => {
  const script = requestScript({ command: ['sh', '-c', `echo "it's $HOME"; echo '$x'`], env: { A: "b'c" }, cwd: '/tmp' });
  assert.equal(script, `cd '/tmp' || exit 127\nexport A='b'\\''c'\nexec 'sh' '-c' 'echo "it'\\''s $HOME"; echo '\\''$x'\\'''\n`);
  // and a real shell reads it back as the same words
  const out = execFileSync('sh', ['-c', requestScript({ command: ['printf', '%s|', 'a b', "c'd", '$e', '"f"'] })]).toString();
  assert.equal(out, `a b|c'd|$e|"f"|`);
});

/** An exchange in a temporary directory, answered by `answer` in place of a guest's agent. */
async function withExchange(answer: (responses: string, id: string) => void, check: (channel: AgentChannel, dir: string) => Promise<void>, alive?: () => Promise<boolean>): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-agent-'));
  const channel = new AgentChannel(path.join(dir, 'agent'), alive);
  await channel.prepare(process.getuid!());
  const responses = path.join(channel.dir, 'responses');
  const watcher = setInterval(() => {
    for (const f of readdirSync(path.join(channel.dir, 'requests'))) {
      const id = /^(.*)\.sh$/.exec(f)?.[1];
      if (id && !existsSync(path.join(responses, `${id}.taken`))) answer(responses, id);
    }
  }, 10);
  try {
    await check(channel, dir);
  } finally {
    clearInterval(watcher);
    rmSync(dir, { recursive: true, force: true });
  }
}

test('an answer that is a FIFO, a link or too large fails that exec at once; a good one is read', async () => {
  const answers: Array<[(file: string) => void, RegExp | undefined]> = [
    [(f) => writeFileSync(f, 'hi\n'), undefined],
    [(f) => execFileSync('mkfifo', [f]), /the out answer of g's agent .* is not a regular file/],
    [(f) => symlinkSync('/etc/passwd', f), /is a symbolic link/],
    [(f) => (writeFileSync(f, ''), truncateSync(f, maxOutputBytes + 1)), /is larger than/],
  ];
  for (const [makeOut, refused] of answers) {
    await withExchange(
      (responses, id) => {
        writeFileSync(path.join(responses, `${id}.taken`), '');
        makeOut(path.join(responses, `${id}.out`));
        writeFileSync(path.join(responses, `${id}.exit`), '0\n');
      },
      async (channel) => {
        const exec = channel.exec('g', { command: ['true'] }, 2000);
        if (refused) await assert.rejects(exec, refused);
        else assert.deepEqual(await exec, { exitCode: 0, stdout: 'hi\n', stderr: '' });
      },
    );
  }
});

test('a command whose guest ends under it (a poweroff) fails within about a second instead of waiting its hour', async () => {
  let engineRuns = true;
  await withExchange(
    (responses, id) => {
      writeFileSync(path.join(responses, `${id}.taken`), '');
      engineRuns = false;
    },
    async (channel) => {
      const started = Date.now();
      await assert.rejects(channel.exec('g', { command: ['poweroff'] }, 2000), /^LodgeError: exec in g: the guest was stopped or deleted while the command ran$/);
      assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
    },
    async () => engineRuns,
  );
});

test('an exchange that is not root\'s alone is refused', async () => {
  await withExchange(
    () => {},
    async (channel) => {
      chmodSync(path.join(channel.dir, 'requests'), 0o777);
      await assert.rejects(channel.exec('g', { command: ['true'] }, 200), /is not root's alone: restart the guest/);
    },
  );
});

test('a command that the agent took and never ends fails at the run timeout, and at once when the guest goes', async () => {
  const takeOnly = (responses: string, id: string) => {
    if (existsSync(responses)) writeFileSync(path.join(responses, `${id}.taken`), '');
  };
  await withExchange(takeOnly, async (channel) => {
    await assert.rejects(channel.exec('g', { command: ['sleep', '9'] }, 2000, 300), /exec in g: sleep did not end within/);
  });
  await withExchange(takeOnly, async (channel) => {
    const exec = channel.exec('g', { command: ['sleep', '9'] }, 2000);
    setTimeout(() => rmSync(path.join(channel.dir, 'responses'), { recursive: true, force: true }), 200);
    await assert.rejects(exec, /exec in g: the guest was stopped or deleted while the command ran/);
  });
});
