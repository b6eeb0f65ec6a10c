/**
 * bench/ct-start: the time to a usable system container, Lodge against the raw engine.
 *   Lodge: `lodge launch busybox NAME` then `lodge exec NAME -- true` (two CLI runs, end to end)
 *   raw:   `runc run` of a bundle on the same busybox rootfs whose process is `true`
 * Runs alternate (A B A B ...) so both see the same machine; prints medians, min-max and
 * the ratio, and writes bench/results/ct-start.json.  Usage: npm run bench:ct-start [-- --runs N]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { elapsedMs, report, series } from './stats.js';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { TestDaemon } from '../test/system/harness.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' } } });
const runs = Number(values.runs);


function rawBundle(dir: string, rootfs: string): string {
  const bundle = path.join(dir, 'raw-bundle');
  mkdirSync(bundle, { recursive: true });
  execFileSync('runc', ['spec'], { cwd: bundle });
  const spec = JSON.parse(execFileSync('cat', [path.join(bundle, 'config.json')]).toString());
  spec.process.terminal = false;
  spec.process.args = ['/bin/true'];
  spec.root = { path: rootfs, readonly: true };
  writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  return bundle;
}

const d = new TestDaemon();
try {
  await d.start();
  await d.buildBusybox();
  const rootfs = path.join(d.stateDir, 'images/busybox/rootfs');
  const bundle = rawBundle(d.dir, rootfs);
  const runcRoot = path.join(d.dir, 'raw-runc');
  const lodge: number[] = [];
  const raw: number[] = [];
  // one launch first so the image's shifted copy exists; its cost is not what is measured
  await d.launch('warmup');
  await d.done(await d.client.guests.delete('warmup', true));
  for (let i = 0; i < runs; i++) {
    let t0 = process.hrtime.bigint();
    const launch = d.lodge(['launch', 'busybox', `b${i}`]);
    const exec = d.lodge(['exec', `b${i}`, '--', 'true']);
    lodge.push(elapsedMs(t0));
    if (launch.code !== 0 || exec.code !== 0) throw new Error(`lodge failed: ${launch.stderr}${exec.stderr}`);
    await d.done(await d.client.guests.delete(`b${i}`, true));

    t0 = process.hrtime.bigint();
    const r = spawnSync('runc', ['--root', runcRoot, 'run', '--bundle', bundle, `raw${i}`]);
    raw.push(elapsedMs(t0));
    if (r.status !== 0) throw new Error(`runc run failed: ${r.stderr}`);
  }
  report('ct-start', series('lodge launch + lodge exec -- true', lodge), series('raw runc run (process: true)', raw), runs);
} finally {
  await d.cleanup();
  rmSync(d.dir, { recursive: true, force: true });
}
