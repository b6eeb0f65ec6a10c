/**
 * @module ct-start: the time to a system container.
 *   (a) API level: POST /1.0/guests (busybox, ct, no NIC) until the operation says its
 *       init runs, against `runc create` + `runc start` of the same rootfs and init (the limit);
 *   (b) end to end: `lodge launch` + `lodge exec NAME -- true` (two CLI runs) against
 *       `podman run --rm IMAGE true` and LXD's `lxc launch` + `lxc exec NAME -- true` of
 *       the same rootfs; and the forced delete of each;
 *   (c) the CLI's cold start: `lodge --version` and `lodge list`, beside `node -e 0`.
 * Runs alternate (A B A B ...). Options: --runs N (15), --no-peers.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { lodgeBin } from '../test/system/harness.js';
import { privateDaemon, type Benchmark } from './bench.js';
import { lxd, podman, type Lxd, type Peer } from './peers.js';
import { rawRunc } from './raw-runc.js';
import { compare, series, show, showComparison, timed } from './stats.js';

function check(r: ReturnType<typeof spawnSync>, what: string): void {
  if (r.status !== 0) throw new Error(`${what} failed: ${r.stderr?.toString().trim()}`);
}

const { NODE_EXTRA_CA_CERTS: _unused, ...withoutCaBundle } = process.env;

export const ctStart: Benchmark = async (ctx) => {
  const runs = ctx.options.runs ?? 15;
  const d = await privateDaemon(ctx);
  const rootfs = path.join(d.stateDir, 'images/busybox/rootfs');
  const init = (await d.client.images.get('busybox')).init;
  const runc = rawRunc(ctx, d.dir, rootfs, [init]);
  // one launch first so the image's shifted copy exists; its cost is not what is measured
  await d.launch('warmup', { networks: [] });
  await d.done(await d.client.guests.delete('warmup', true));

  ctx.log('(a) API: POST /1.0/guests until init runs, against runc create + runc start');
  const api: number[] = [];
  const raw: number[] = [];
  for (let i = 0; i < runs; i++) {
    api.push(await timed(async () => d.done(await d.client.guests.launch({ name: `a${i}`, image: 'busybox', networks: [] }))));
    await d.done(await d.client.guests.delete(`a${i}`, true));
    raw.push(
      await timed(() => {
        runc('create', '--bundle', runc.bundle, `raw${i}`);
        runc('start', `raw${i}`);
      }),
    );
    runc('delete', '--force', `raw${i}`);
  }
  const apiLaunch = compare(series('Lodge API launch (no NIC)', 'ms', api), series('runc create + runc start', 'ms', raw));
  ctx.log(showComparison(apiLaunch));

  ctx.log('(b) end to end: lodge launch + lodge exec -- true, against podman run --rm and lxc launch + lxc exec -- true');
  const unavailable = (why: string) => ({ available: false, why }) as const;
  const noPeers = ctx.options['no-peers'];
  const pod = noPeers ? unavailable('--no-peers') : podman(ctx, path.join(d.dir, 'podman'), rootfs);
  const lx: Peer<Lxd> = noPeers ? unavailable('--no-peers') : lxd(ctx, path.join(d.dir, 'lxd'), rootfs);
  if (!pod.available) ctx.log(`podman: not compared: ${pod.why}`);
  if (!lx.available) ctx.log(`lxd: not compared: ${lx.why}`);
  // the CLI as installed: its own shebang, not `node FILE`
  const lodge = (...args: string[]) => spawnSync(lodgeBin, args, { env: { ...process.env, LODGE_SOCKET: d.socket } });
  const times = { lodge: [] as number[], lodgeDelete: [] as number[], podman: [] as number[], lxd: [] as number[], lxdDelete: [] as number[] };
  for (let i = 0; i < runs; i++) {
    times.lodge.push(
      await timed(() => {
        check(lodge('launch', 'busybox', `b${i}`, '--network', 'none'), 'lodge launch');
        check(lodge('exec', `b${i}`, '--', 'true'), 'lodge exec');
      }),
    );
    times.lodgeDelete.push(await timed(() => check(lodge('delete', '--force', `b${i}`), 'lodge delete')));
    if (pod.available) {
      const argv = pod.peer.argv('run', '--rm', pod.peer.image, 'true');
      times.podman.push(await timed(() => check(spawnSync(argv[0]!, argv.slice(1)), 'podman run')));
    }
    if (lx.available) {
      times.lxd.push(
        await timed(() => {
          lx.peer.lxc('launch', lx.peer.image, `x${i}`);
          lx.peer.lxc('exec', `x${i}`, '--', 'true');
        }),
      );
      times.lxdDelete.push(await timed(() => lx.peer.lxc('delete', '--force', `x${i}`)));
    }
  }
  const endToEnd = series('lodge launch + lodge exec -- true', 'ms', times.lodge);
  ctx.log(show(endToEnd));
  const vsPodman = pod.available ? compare(endToEnd, series('podman run --rm IMAGE true', 'ms', times.podman)) : undefined;
  if (vsPodman) ctx.log(`${show(vsPodman.against)}\nratio: ${vsPodman.ratio.toFixed(2)}`);
  const vsLxd = lx.available ? compare(endToEnd, series('lxc launch + lxc exec -- true', 'ms', times.lxd)) : undefined;
  if (vsLxd) ctx.log(`${show(vsLxd.against)}\nratio: ${vsLxd.ratio.toFixed(2)}`);
  const deletion = lx.available ? compare(series('lodge delete --force', 'ms', times.lodgeDelete), series('lxc delete --force', 'ms', times.lxdDelete)) : undefined;
  if (deletion) ctx.log(showComparison(deletion));

  ctx.log('(c) CLI cold start');
  const lodgeCli = (...args: string[]) => () => check(lodge(...args), `lodge ${args.join(' ')}`);
  const cli = { version: [] as number[], list: [] as number[], node: [] as number[] };
  for (let i = 0; i < runs; i++) {
    cli.version.push(await timed(lodgeCli('--version')));
    cli.list.push(await timed(lodgeCli('list')));
    // as the CLI's shebang runs it: without the certificate bundle this environment names
    cli.node.push(await timed(() => check(spawnSync(process.execPath, ['-e', '0'], { env: withoutCaBundle }), 'node -e 0')));
  }
  const cliStart = { version: series('lodge --version', 'ms', cli.version), list: series('lodge list', 'ms', cli.list), node: series('node -e 0 (the floor)', 'ms', cli.node) };
  for (const s of Object.values(cliStart)) ctx.log(show(s));

  return {
    summary: [
      `API launch ${apiLaunch.lodge.median.toFixed(0)} ms against runc ${apiLaunch.against.median.toFixed(0)} ms: ratio ${apiLaunch.ratio.toFixed(2)} (target 1.5)`,
      `launch + exec ${endToEnd.median.toFixed(0)} ms` +
        (vsPodman ? `, podman run ${vsPodman.against.median.toFixed(0)} ms (ratio ${vsPodman.ratio.toFixed(2)})` : `, podman not compared (${pod.available ? '' : pod.why})`) +
        (vsLxd ? `, lxc launch + exec ${vsLxd.against.median.toFixed(0)} ms (ratio ${vsLxd.ratio.toFixed(2)})` : `, LXD not compared (${lx.available ? '' : lx.why})`),
      `lodge --version ${cliStart.version.median.toFixed(0)} ms (target 80; node alone ${cliStart.node.median.toFixed(0)} ms)`,
    ].join('; '),
    result: { apiLaunch, endToEnd, ...(vsPodman ? { vsPodman } : {}), ...(vsLxd ? { vsLxd } : {}), ...(deletion ? { deletion } : {}), cliStart },
  };
};
