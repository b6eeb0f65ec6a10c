/**
 * The autonomic loop's health watch on real guests, asked every second (--autonomic-health-every
 * 1): a pv guest's lodge-execd stopped in the guest is reported silent after two probes without
 * an answer, and reported again once it answers, its line still usable; a container whose
 * console holder (lodge-shim) is stopped on the host is reported the same way. Each report is an
 * operation autonomic.health with its reason, and lodge autonomic status shows how each stands.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Operation } from '../../src/api/operations.js';
import { consoleExpect, guestPid, TestDaemon } from './harness.js';

const d = new TestDaemon({ args: ['--autonomic-health-every', '1'] });

before(async () => {
  await d.start();
  await d.buildBusybox();
});

after(() => d.cleanup());

/** Polls every 200 ms until `check` answers something, at most `timeoutMs`. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await check();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms\n${d.stderr.split('\n').filter((l) => l.includes('autonomic')).join('\n')}`);
    await sleep(200);
  }
}

const health = async (name: string) => (await d.client.autonomic.status()).health?.guests.find((g) => g.name === name);
const report = (name: string, pattern: RegExp) => async (): Promise<Operation | undefined> =>
  (await d.client.autonomic.log(1000)).find((o) => o.action === 'autonomic.health' && o.target === name && pattern.test(o.reason ?? ''));

test("a pv guest's lodge-execd that stops answering is reported, and so is its return", { timeout: 120_000 }, async () => {
  await d.launch('p1', { kind: 'pv' });
  await until('p1 answers', async () => ((await health('p1'))?.agent.state === 'answers' ? true : undefined), 60_000);
  assert.equal((await health('p1'))?.agent.name, 'lodge-execd');
  assert.equal((await health('p1'))?.console.state, 'answers');

  await consoleExpect(d, 'p1', 'killall -STOP lodge-execd; echo stopped-$((1+1))\n', /stopped-2/);
  const silent = await until('p1 reported silent', report('p1', /has not answered/), 30_000);
  assert.equal(silent.status, 'success');
  assert.match(silent.reason!, /^p1's lodge-execd has not answered for \d+ s \(it last answered \d+ s ago\): the exec agent did not answer in 5000 ms$/);
  assert.equal((await health('p1'))?.agent.state, 'silent');
  const status = d.lodge(['autonomic', 'status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^health: each running guest's console and agent asked every 1 s/m);
  assert.match(status.stdout, /\bp1 +pv +answers +lodge-execd: silent for \d+ s: the exec agent did not answer/);

  await consoleExpect(d, 'p1', 'killall -CONT lodge-execd; echo going-$((1+1))\n', /going-2/);
  const back = await until('p1 reported back', report('p1', /answers again/), 30_000);
  assert.match(back.reason!, /^p1's lodge-execd answers again, after \d+ s silent$/);
  // what the probes said to it meanwhile left its line working
  const echo = d.lodge(['exec', 'p1', '--', 'echo', 'still here']);
  assert.deepEqual([echo.code, echo.stdout], [0, 'still here\n'], echo.stderr);
  assert.equal((await d.client.autonomic.log(1000)).filter((o) => o.action === 'autonomic.health' && o.target === 'p1').length, 2, 'each change said once');
});

test('a container whose console holder is stopped is reported, and so is its return; it has no agent to ask', { timeout: 60_000 }, async () => {
  await d.launch('c1');
  await until('c1 probed', async () => ((await health('c1'))?.console.state === 'answers' ? true : undefined), 10_000);
  assert.deepEqual((await health('c1'))?.agent, { state: 'unknown', how: 'no agent is known to run in it' });
  const shim = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${await guestPid(d, 'c1')}/status`, 'utf8'))![1]);
  assert.match(readFileSync(`/proc/${shim}/cmdline`, 'utf8').split('\0')[0]!, /lodge-shim$/);
  process.kill(shim, 'SIGSTOP');
  try {
    const silent = await until('c1 reported silent', report('c1', /has not answered/), 15_000);
    assert.match(silent.reason!, new RegExp(`^c1's console has not answered for \\d+ s \\(it last answered \\d+ s ago\\): lodge-shim \\(pid ${shim}\\), which holds its console, is stopped$`));
  } finally {
    process.kill(shim, 'SIGCONT');
  }
  await until('c1 reported back', report('c1', /answers again/), 15_000);
  assert.equal((await health('c1'))?.console.state, 'answers');
});
