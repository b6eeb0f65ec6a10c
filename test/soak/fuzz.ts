/**
 * @module The fuzz soak: N generated requests against a private lodged (busybox built, one
 * ct guest running), then the counts: requests, answers by status, 5xx, hangs, lodged's
 * deaths, answers without the registered shape, and whether anything was created.
 */
import { fuzzTargets, runFuzz } from '../fuzz/run.js';
import { TestDaemon } from '../system/harness.js';

export interface SoakResult {
  /** Lines to print, each `name: value`. */
  report: Array<[string, unknown]>;
  ok: boolean;
}

export async function fuzzSoak(count: number, seed: number, concurrency: number): Promise<SoakResult> {
  const d = new TestDaemon();
  try {
    await d.start();
    await d.buildBusybox();
    await d.launch('soak1');
    const snapshot = async () =>
      JSON.stringify([
        (await d.client.guests.list()).map((g) => g.name),
        (await d.client.images.list()).map((i) => i.name),
        (await d.client.networks.list()).map((n) => n.name),
        (await d.client.operations.list()).length,
      ]);
    const before = await snapshot();
    const started = Date.now();
    const counts = await runFuzz(d, {
      count,
      seed,
      targets: await fuzzTargets(d, 'soak1'),
      concurrency,
      onProgress: (c) => process.stderr.write(`soak: ${c.requests}/${count} requests, ${c.failures.length} wrong\n`),
    });
    const created = (await snapshot()) !== before;
    const crashed = /uncaught|internal error|\n\s+at /i.test(d.stderr);
    return {
      ok: counts.failures.length === 0 && !created && !crashed,
      report: [
        ['seed', seed],
        ['concurrency', concurrency],
        ['requests', counts.requests],
        ['seconds', Math.round((Date.now() - started) / 1000)],
        ['by status', counts.byStatus],
        ['5xx', counts.serverErrors],
        ['hangs', counts.hangs],
        ['lodged deaths', counts.deaths],
        ['wrong answers', counts.failures.length],
        ['created or changed', created],
        ['crash in lodged stderr', crashed],
        ...counts.failures.slice(0, 20).map((f): [string, unknown] => ['wrong', `${f.label}: ${f.problem}`]),
      ],
    };
  } finally {
    await d.cleanup();
  }
}
