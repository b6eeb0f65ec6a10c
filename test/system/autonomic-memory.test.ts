/**
 * The autonomic loop's memory balancing on real containers (busybox, cgroup v1 here): a private
 * lodged with a guest memory budget of 384 MiB and two guests of 256 MiB ceilings, so that their
 * ceilings (512 MiB) overcommit it. The second to start is given its fair share (192 MiB), the
 * first gives back what the budget cannot hold; then the second grows its memory (files on a
 * tmpfs, which nothing can reclaim without swap) past its share towards 240 MiB while the first
 * sits idle. With the loop on, the grower is never OOM-killed and its cgroup limit rises; the
 * idle guest's falls, but stays above its floor and what it uses. Every move is an operation
 * autonomic.memory with its reason, and lodge autonomic status shows floor/allocation/ceiling.
 *
 * The same lodged weighs their CPU too, with a CPU window of 4 s (--autonomic-cpu-window): a
 * guest of high priority gets twice the weight, a guest that spins for the window drops to a
 * quarter of its weight, and gets it back once it has been quiet for half a window.
 *
 * Then a pv guest takes the grower's place: UML has no balloon, but its memory unplug (the
 * mconsole's config mem=-N/+N) moves its memory live the same way.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { guestPid, guestSh, hostCgroup, TestDaemon } from './harness.js';

const M = 1024 * 1024;
const d = new TestDaemon({ args: ['--guest-memory', '384M', '--autonomic-cpu-window', '4'] });

before(async () => {
  await d.start();
  await d.buildBusybox();
});

after(() => d.cleanup());

/** A guest's memory cgroup file, as a number or the key of a keyed file. */
async function memoryFile(name: string, file: string, key?: string): Promise<number> {
  const text = readFileSync(`${hostCgroup(await guestPid(d, name), 'memory')}/${file}`, 'utf8');
  return Number(key ? new RegExp(`^${key} (\\d+)$`, 'm').exec(text)?.[1] : text.trim());
}

async function cpuShares(name: string): Promise<number> {
  return Number(readFileSync(`${hostCgroup(await guestPid(d, name), 'cpu')}/cpu.shares`, 'utf8').trim());
}

/** Polls every 100 ms until `check` holds, at most `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms\n${d.stderr.split('\n').filter((l) => l.includes('autonomic')).join('\n')}`);
    await sleep(100);
  }
}

test('a guest that grows past its share gets memory from an idle one, and is not OOM-killed; the idle one keeps its floor and what it uses', { timeout: 60_000 }, async () => {
  await d.launch('idle', { limits: { memory: '256M', memoryFloor: '64M' } });
  await d.launch('grow', { limits: { memory: '256M', memoryFloor: '64M' } });
  // the newcomer gets its fair share; the first gives back what the budget cannot hold
  await until('grow given its share', async () => (await memoryFile('grow', 'memory.limit_in_bytes')) === 192 * M && (await memoryFile('idle', 'memory.limit_in_bytes')) <= 192 * M, 10_000);
  const start = (await d.client.autonomic.log(1000)).filter((o) => o.action === 'autonomic.memory');
  assert.match(start.find((o) => o.target === 'grow')?.reason ?? '', /^the ceilings of the running guests \(512MB\) exceed the guest memory budget \(384MB\): grow is given its fair share, 192MB of its 256MB ceiling \(cgroup limit\)$/);

  // a tmpfs of its own to grow in (its /dev/shm is 64 MiB): 150 MiB at once, then 4 MiB every 250 ms to 242 MiB
  const grower = guestSh(
    d,
    'grow',
    'mkdir -p /hog && mount -t tmpfs -o size=300m hog /hog && dd if=/dev/zero of=/hog/base bs=1M count=150 2>/dev/null && ' +
      'i=0; while [ $i -lt 23 ]; do dd if=/dev/zero of=/hog/f$i bs=1M count=4 2>/dev/null || exit 9; i=$((i+1)); sleep 0.25; done; du -sm /hog',
  );
  const out = await grower;
  assert.match(out, /^242\s/, `everything it wrote is there: ${out}`);
  assert.equal(await memoryFile('grow', 'memory.oom_control', 'oom_kill'), 0, 'grow was never OOM-killed');
  const growLimit = await memoryFile('grow', 'memory.limit_in_bytes');
  assert.ok(growLimit > 242 * M && growLimit <= 256 * M, `grow's limit rose past what it holds, to at most its ceiling: ${growLimit / M} MiB`);

  const idleLimit = await memoryFile('idle', 'memory.limit_in_bytes');
  const idleUsed = await memoryFile('idle', 'memory.usage_in_bytes');
  assert.ok(idleLimit < 192 * M, `idle's limit fell: ${idleLimit / M} MiB`);
  assert.ok(idleLimit >= 64 * M && idleLimit > idleUsed, `idle kept its floor and more than it uses: ${idleLimit / M} MiB, using ${idleUsed / M} MiB`);
  assert.ok(idleLimit + growLimit <= 384 * M, `the budget held: ${(idleLimit + growLimit) / M} MiB`);

  const moves = (await d.client.autonomic.log(1000)).filter((o) => o.action === 'autonomic.memory' && o.target === 'grow' && /took/.test(o.reason ?? ''));
  assert.ok(moves.length >= 1, 'a move gave grow memory');
  assert.ok(moves.every((o) => o.status === 'success'), JSON.stringify(moves));
  assert.match(moves.at(-1)!.reason!, /^grow used \d+% of its 192MB (now|for \d+ s); took .*from idle idle \(cgroup limit, it uses \d+(\.\d)?[KM]B of \d+MB\), gave it to grow \(cgroup limit\): 192MB -> \d+MB of its 256MB ceiling$/);

  const status = d.lodge(['autonomic', 'status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /memory: guest budget 384MB, overcommitted/);
  assert.match(status.stdout, new RegExp(`\\bidle +ct +64MB +${idleLimit / M}MB +256MB +\\S+ +cgroup limit`));
  assert.match(status.stdout, new RegExp(`\\bgrow +ct +64MB +${growLimit / M}MB +256MB +\\S+ +cgroup limit`));

  // out of the loop, a guest holds its ceiling again, and the loop says so
  const off = d.lodge(['set', 'idle', '--autonomic', 'off']);
  assert.equal(off.code, 0, off.stderr);
  assert.equal(await memoryFile('idle', 'memory.limit_in_bytes'), 256 * M);
  assert.equal((await d.client.guests.get('idle')).autonomic, 'off');
  await until('the status shows idle out of the loop', async () => /out of the loop/.test((await d.client.autonomic.status()).memory?.guests.find((g) => g.name === 'idle')?.how ?? ''), 5000);
});

test('a guest that spins for the window drops to a quarter of its CPU weight and gets it back when quiet; a high priority weighs twice', { timeout: 60_000 }, async () => {
  // the guests of the test above: idle back in the loop, at high priority
  const set = d.lodge(['set', 'idle', '--autonomic', 'on', '--priority', 'high']);
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stderr, /idle: priority high: changed/);
  assert.equal((await d.client.guests.get('idle')).priority, 'high');
  await until('idle weighs twice', async () => (await cpuShares('idle')) === 2048, 5000);
  const cpuOps = async () => (await d.client.autonomic.log(1000)).filter((o) => o.action === 'autonomic.cpu');
  assert.match((await cpuOps()).find((o) => o.target === 'idle')?.reason ?? '', /^idle is of high priority \(twice the 1024 its limits give\); its shares 1024 -> 2048$/);
  assert.equal(await cpuShares('grow'), 1024);

  // two busy loops: a CPU kept busy even while something else on the host takes the other
  const pids = (await guestSh(d, 'grow', 'for i in 1 2; do (while :; do :; done) </dev/null >/dev/null 2>&1 & echo $!; done')).trim().split(/\s+/);
  assert.equal(pids.length, 2, pids.join(' '));
  const spunAt = Date.now();
  await until('the spinner lowered', async () => (await cpuShares('grow')) === 256, 15_000);
  // 90 % of the 4 s window kept busy, sampled every 333 ms: not before 3 s whatever its threads
  assert.ok(Date.now() - spunAt >= 3000, `lowered after nearly a whole window: ${Date.now() - spunAt} ms`);
  const lowered = (await cpuOps()).find((o) => o.target === 'grow');
  assert.equal(lowered?.status, 'success');
  assert.match(lowered?.reason ?? '', /^grow used \d+% of a CPU for 4 s; its shares 1024 -> 256 so interactive guests go first$/);
  assert.equal(await cpuShares('idle'), 2048, 'the quiet guest keeps its weight');
  const status = d.lodge(['autonomic', 'status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /\bgrow +ct +normal +256 +1024 +grow (used|still spins)/);
  assert.match(status.stdout, /\bidle +ct +high +2048 +2048 +idle is of high priority/);

  await guestSh(d, 'grow', `kill ${pids.join(' ')}`);
  const quietAt = Date.now();
  await until('the spinner given its weight back', async () => (await cpuShares('grow')) === 1024, 10_000);
  // every round of half the window quiet (the round the loops died in may count as one)
  assert.ok(Date.now() - quietAt >= 1500, `after half a window quiet: ${Date.now() - quietAt} ms`);
  const back = (await cpuOps()).find((o) => o.target === 'grow');
  assert.match(back?.reason ?? '', /^grow has been quiet for 2 s \(at most \d+% of a CPU\); its shares 256 -> 1024, its normal priority's weight again$/);
  // its memory allocation was left as the memory balancing set it
  assert.ok((await memoryFile('grow', 'memory.limit_in_bytes')) > 192 * M);
});

test("a pv guest's memory moves live too, through UML's memory unplug: it starts at its share and is given memory back as it grows", { timeout: 120_000 }, async () => {
  // grow goes: idle (a container) and a pv guest of the same ceiling share the budget
  assert.equal(d.lodge(['delete', '--force', 'grow']).code, 0);
  await d.launch('pgrow', { kind: 'pv', limits: { memory: '256M', memoryFloor: '64M' } });
  const pv = async () => (await d.client.autonomic.status()).memory?.guests.find((g) => g.name === 'pgrow');
  // once its mconsole is up, the newcomer gives back what its share leaves
  await until('pgrow given its share', async () => (await pv())?.how === 'memory unplug' && (await pv())?.allocationBytes === 192 * M, 60_000);
  const start = (await d.client.autonomic.log(1000)).find((o) => o.action === 'autonomic.memory' && o.target === 'pgrow');
  assert.match(start?.reason ?? '', /: pgrow is given its fair share, 192MB of its 256MB ceiling \(memory unplug\)$/);
  const available = async () => Number(/^MemAvailable:\s+(\d+) kB$/m.exec(await guestSh(d, 'pgrow', 'cat /proc/meminfo'))![1]) * 1024;
  assert.ok((await available()) < 192 * M, `the guest's kernel counts the pages it gave up as taken: ${(await available()) / M} MiB available`);

  // 120 MiB at once, then 4 MiB every 250 ms to 200 MiB: past what 192 MiB leaves it beside its kernel
  const out = await guestSh(
    d,
    'pgrow',
    'mkdir -p /hog && mount -t tmpfs -o size=300m hog /hog && dd if=/dev/zero of=/hog/base bs=1M count=120 2>/dev/null && ' +
      'i=0; while [ $i -lt 20 ]; do dd if=/dev/zero of=/hog/f$i bs=1M count=4 2>/dev/null || exit 9; i=$((i+1)); sleep 0.25; done; du -sm /hog; grep oom_kill /proc/vmstat',
  );
  assert.match(out, /^200\s/, `everything it wrote is there: ${out}`);
  assert.match(out, /^oom_kill 0$/m, 'no process of the guest was killed for want of memory');
  const grown = await pv();
  assert.ok(grown!.allocationBytes! > 200 * M && grown!.allocationBytes! <= 256 * M, `its allocation rose past what it holds, to at most its ceiling: ${grown!.allocationBytes! / M} MiB`);
  const moves = (await d.client.autonomic.log(1000)).filter((o) => o.action === 'autonomic.memory' && o.target === 'pgrow' && /gave it to/.test(o.reason ?? ''));
  assert.ok(moves.length >= 1 && moves.every((o) => o.status === 'success'), JSON.stringify(moves));
  assert.match(moves.at(-1)!.reason!, /^pgrow used \d+% of its \d+MB (now|for \d+ s); took .*, gave it to pgrow \(memory unplug\): \d+MB -> \d+MB of its 256MB ceiling$/);
});
