/**
 * @module ksm: what the KSM policy saves the host, against the same guests with KSM off. For
 * each of `--ksm off` and `--ksm always`, a private lodged launches --vms (3) busybox vm guests
 * of --vm-mb (256) each, waits until each answers its agent, then --wait seconds (120: the
 * host's ksmd, at its default pace of 100 pages every 20 ms, needs two passes over their memory
 * before it merges), and reads the host memory their cgroups hold (QEMU and guest RAM) and what
 * KSM says it saves (pages_sharing). The host's ksmd is left as it was found.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { guestPid, guestSh, hostCgroup, TestDaemon } from '../test/system/harness.js';
import type { Benchmark } from './bench.js';

const M = 1024 * 1024;
const ksmRun = '/sys/kernel/mm/ksm/run';

export const ksm: Benchmark = async (ctx) => {
  const vms = Number(ctx.options.vms ?? 3);
  const vmMb = Number(ctx.options['vm-mb'] ?? 256);
  const waitS = Number(ctx.options.wait ?? 120);
  const found = readFileSync(ksmRun, 'utf8').trim();
  ctx.defer(() => writeFileSync(ksmRun, `${found}\n`));
  const runs: Record<string, { heldMb: number; savedMb: number }> = {};
  for (const mode of ['off', 'always'] as const) {
    // a lodged of each run's own, gone (and the ksmd it started stopped) before the next
    const d = new TestDaemon({ args: ['--ksm', mode] });
    let removed = false;
    const remove = async () => {
      if (!removed) await d.cleanup();
      removed = true;
    };
    ctx.defer(remove);
    await d.start();
    await d.buildBusybox();
    const names = Array.from({ length: vms }, (_, i) => `k${i}`);
    for (const name of names) await d.launch(name, { kind: 'vm', limits: { memory: `${vmMb}M` }, networks: [] });
    for (const name of names) await guestSh(d, name, 'true');
    ctx.log(`--ksm ${mode}: ${vms} vm guests of ${vmMb} MiB answer; waiting ${waitS} s`);
    await sleep(waitS * 1000);
    let held = 0;
    for (const name of names) held += Number(readFileSync(`${hostCgroup(await guestPid(d, name), 'memory')}/memory.usage_in_bytes`, 'utf8').trim());
    const saved = (await d.client.autonomic.status()).ksm?.savedBytes ?? 0;
    runs[mode] = { heldMb: Math.round(held / M), savedMb: Math.round(saved / M) };
    ctx.log(`--ksm ${mode}: their cgroups hold ${runs[mode]!.heldMb} MiB; KSM saves ${runs[mode]!.savedMb} MiB`);
    await remove();
  }
  const ratio = runs.always!.heldMb / runs.off!.heldMb;
  return {
    summary: `${vms} vm guests of ${vmMb} MiB after ${waitS} s: ${runs.off!.heldMb} MiB held with KSM off, ${runs.always!.heldMb} MiB with it on (${ratio.toFixed(2)}×; KSM saves ${runs.always!.savedMb} MiB)`,
    result: { vms, vmMb, waitS, ...runs, ratio },
  };
};
