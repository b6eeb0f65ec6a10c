/**
 * The autonomic loop's memory balancing with a real vm guest (QEMU under TCG, its virtio
 * balloon) beside a container (busybox, cgroup v1 here): a private lodged with a guest memory
 * budget of 384 MiB, an idle ct of a 256 MiB ceiling and a vm of a 384 MiB ceiling (floor
 * 128 MiB), so that their ceilings (640 MiB) overcommit it. The vm is given its fair share
 * (192 MiB) by inflating its balloon, the ct keeps no more than the budget leaves it; then the vm
 * grows its memory (files on a tmpfs in the guest, which nothing can reclaim without swap) past
 * its share, to 144 MiB of files beside the ~70 MiB its kernel and agents use, while the ct sits
 * idle. With the loop on, the vm's kernel never kills a process for want of memory and keeps all
 * it wrote: the loop lowers the ct's cgroup limit and deflates the vm's balloon by as much, the
 * ct keeping its floor, the budget holding. Every move is an operation autonomic.memory with its
 * reason, and lodge autonomic status shows the vm's floor, allocation and ceiling, by balloon.
 *
 * The loop is paused until the vm's balloon first reports: before that the vm counts at its
 * ceiling, and the loop takes what the budget cannot hold from the ct down to its floor, to
 * give it back once the vm has its share; paused, the start is one move, and the ct holds its
 * share when the vm grows (a move from one kind to the other is what this test is for). The vm
 * grows 4 MiB every 500 ms, not every 250 ms as bench/autonomic.ts does: its balloon reports
 * what it uses once a second and the loop reads once a second, so the loop sees it short up to
 * two seconds late, and at 16 MiB/s the last 15 % of its share (29 MiB) may be gone by then.
 *
 * The same lodged runs the KSM policy (--ksm auto, the default): while the vm runs and the
 * budget is overcommitted it starts the host's ksmd, its guest RAM offered to it (QEMU's
 * mem-merge), and once the vm is gone it stops the ksmd it started. The host's ksmd is put back
 * as it was found, whatever happens.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { guestPid, guestSh, hostCgroup, requireProgram, TestDaemon } from './harness.js';

const M = 1024 * 1024;
const d = new TestDaemon({ args: ['--guest-memory', '384M'] });

before(async () => {
  requireProgram('/usr/bin/qemu-system-x86_64', 'qemu-system-x86');
  await d.start();
  await d.buildBusybox();
});

const ksmRun = () => Number(readFileSync('/sys/kernel/mm/ksm/run', 'utf8').trim());
const ksmAtStart = ksmRun();

after(async () => {
  await d.cleanup();
  if (ksmRun() !== ksmAtStart) writeFileSync('/sys/kernel/mm/ksm/run', `${ksmAtStart}\n`);
});

/** The ct's cgroup limit. */
async function ctLimit(name: string): Promise<number> {
  return Number(readFileSync(`${hostCgroup(await guestPid(d, name), 'memory')}/memory.limit_in_bytes`, 'utf8').trim());
}

/** A guest as the loop's status shows it. */
async function memoryStatus(name: string) {
  return (await d.client.autonomic.status()).memory?.guests.find((g) => g.name === name);
}

/** Polls every 100 ms until `check` holds, at most `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms\n${d.stderr.split('\n').filter((l) => l.includes('autonomic')).join('\n')}`);
    await sleep(100);
  }
}

const oomKills = async (name: string) => Number(/^oom_kill (\d+)$/m.exec(await guestSh(d, name, 'cat /proc/vmstat'))?.[1] ?? NaN);

test('a vm that grows past its share gets memory through its balloon from an idle container, and is not OOM-killed; the container keeps its floor', { timeout: 120_000 }, async () => {
  assert.equal((await d.client.autonomic.pause()).paused, true);
  await d.launch('idle', { limits: { memory: '256M', memoryFloor: '64M' } });
  await d.launch('grow', { kind: 'vm', options: { accel: 'tcg' }, limits: { memory: '384M', memoryFloor: '128M' } });
  // booted (its agent answers), and its balloon has told the loop what it uses
  await guestSh(d, 'grow', 'true');
  await until('the balloon of grow reports', async () => (await memoryStatus('grow'))?.usedBytes !== undefined, 30_000);
  assert.equal((await memoryStatus('grow'))?.how, 'balloon');
  assert.equal(await oomKills('grow'), 0);

  assert.equal((await d.client.autonomic.resume()).paused, false);
  // the newcomer gets its fair share through its balloon; the ct holds no more than the budget leaves it
  await until('grow given its share', async () => (await memoryStatus('grow'))?.allocationBytes === 192 * M && (await ctLimit('idle')) <= 192 * M, 15_000);
  const start = (await d.client.autonomic.log(1000)).filter((o) => o.action === 'autonomic.memory' && o.target === 'grow');
  assert.equal(start.length, 1, JSON.stringify(start));
  assert.equal(start[0]!.status, 'success');
  assert.match(start[0]!.reason ?? '', /^the ceilings of the running guests \(640MB\) exceed the guest memory budget \(384MB\): grow is given its fair share, 192MB of its 384MB ceiling \(balloon\)$/);
  const given = await guestSh(d, 'grow', 'cat /proc/meminfo');
  assert.ok(Number(/^MemTotal: +(\d+) kB$/m.exec(given)?.[1]) * 1024 <= 192 * M, `the balloon took memory from the guest's kernel: ${given.split('\n')[0]}`);

  // a tmpfs of its own to grow in: 80 MiB at once, then 4 MiB every 500 ms to 144 MiB (more than its share, with what it used before)
  const out = await guestSh(
    d,
    'grow',
    'mkdir -p /hog && mount -t tmpfs -o size=300m hog /hog && dd if=/dev/zero of=/hog/base bs=1M count=80 2>/dev/null && ' +
      'i=0; while [ $i -lt 16 ]; do dd if=/dev/zero of=/hog/f$i bs=1M count=4 2>/dev/null || exit 9; i=$((i+1)); sleep 0.5; done; du -sm /hog',
  );
  assert.match(out, /^144\s/, `everything it wrote is there: ${out}`);
  assert.equal(await oomKills('grow'), 0, "grow's kernel never killed a process for want of memory");

  const moves = (await d.client.autonomic.log(1000)).filter((o) => o.action === 'autonomic.memory' && o.target === 'grow' && /took/.test(o.reason ?? ''));
  assert.ok(moves.length >= 1, 'a move gave grow memory');
  assert.ok(moves.every((o) => o.status === 'success'), JSON.stringify(moves));
  // oldest first: the first move took from the ct, the budget having nothing free
  moves.reverse();
  assert.match(moves[0]!.reason!, /^grow used \d+% of its 192MB (now|for \d+ s); took \d+MB from idle idle \(cgroup limit, it uses \d+(\.\d)?[KM]B of 192MB\), gave it to grow \(balloon\): 192MB -> \d+MB of its 384MB ceiling$/);
  const growAllocation = Number(/ -> (\d+)MB of its 384MB ceiling$/.exec(moves.at(-1)!.reason!)?.[1]) * M;
  assert.ok(growAllocation > 192 * M && growAllocation <= 384 * M, `grow's allocation rose past its share, to at most its ceiling: ${growAllocation / M} MiB`);
  // the balloon deflated to what the loop gave it, and the loop reads that back
  await until('the status shows what grow was given', async () => (await memoryStatus('grow'))?.allocationBytes === growAllocation, 5000);
  const grown = await memoryStatus('grow');
  assert.equal(grown?.how, 'balloon');
  assert.ok(grown!.usedBytes! >= 0.85 * 192 * M, `what it uses would leave it short at its share: ${grown!.usedBytes! / M} MiB`);
  assert.ok(growAllocation > grown!.usedBytes!, `more than it uses: ${growAllocation / M} MiB, using ${grown!.usedBytes! / M} MiB`);

  const idleLimit = await ctLimit('idle');
  assert.ok(idleLimit < 192 * M, `idle's limit fell: ${idleLimit / M} MiB`);
  assert.ok(idleLimit >= 64 * M, `idle kept its floor: ${idleLimit / M} MiB`);
  assert.ok(idleLimit + growAllocation <= 384 * M, `the budget held: ${(idleLimit + growAllocation) / M} MiB`);

  const status = d.lodge(['autonomic', 'status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /memory: guest budget 384MB, overcommitted/);
  assert.match(status.stdout, new RegExp(`\\bidle +ct +64MB +${idleLimit / M}MB +256MB +\\S+ +cgroup limit`));
  assert.match(status.stdout, new RegExp(`\\bgrow +vm +128MB +${growAllocation / M}MB +384MB +\\S+ +balloon`));
});

test("KSM: ksmd runs while the vm runs and the budget is overcommitted, the vm's memory offered to it; it stops with the vm", { timeout: 60_000 }, async () => {
  const ksm = async () => (await d.client.autonomic.status()).ksm!;
  const qemu = await guestPid(d, 'grow');
  // its guest RAM is mergeable (madvise MADV_MERGEABLE: "mg" in its mapping's flags)
  assert.match(readFileSync(`/proc/${qemu}/smaps`, 'utf8'), /^VmFlags:.* mg\b/m);
  if (ksmAtStart !== 0) {
    // the host's administrator runs (or unmerges with) ksmd: Lodge leaves it as it is
    await until('the status says why', async () => /administrator/.test((await ksm()).how), 15_000);
    return;
  }
  await until('ksmd started', async () => ksmRun() === 1, 15_000);
  const started = (await d.client.autonomic.log(1000)).find((o) => o.action === 'autonomic.ksm');
  assert.equal(started?.status, 'success');
  assert.equal(started?.reason, 'the guest memory budget is overcommitted and 1 vm guest run: ksmd merges their identical pages; ksmd started');
  assert.equal((await ksm()).running, true);
  const status = d.lodge(['autonomic', 'status']);
  assert.match(status.stdout, /^ksm \(auto\): ksmd runs.*: the guest memory budget is overcommitted and 1 vm guest run/m);

  assert.equal(d.lodge(['delete', '--force', 'grow']).code, 0);
  await until('ksmd stopped', async () => ksmRun() === 0, 15_000);
  const stopped = (await d.client.autonomic.log(1000)).find((o) => o.action === 'autonomic.ksm');
  assert.equal(stopped?.reason, 'no vm guest runs (only their memory is mergeable); ksmd stopped');
});
