/**
 * bench/net: TCP throughput and round-trip time between two ct guests on one Lodge
 * network (veths on a bridge, with Lodge's nftables rules) and between two vm guests on
 * one (taps, virtio-net, QEMU under TCG here), against the limit: two bare network
 * namespaces joined by one veth. All three pairs run the same busybox tools. Everything
 * runs inside network namespaces this script makes (lodged in one of them) and removes.
 * Runs alternate. Options: --runs N (5), --megabytes M (128), --vm-megabytes M (16), --no-vm.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { consoleExpect } from '../test/system/harness.js';
import { privateDaemon, type Benchmark } from './bench.js';
import { compare, series, show, type Comparison } from './stats.js';

/** Runs a shell command in one end of a pair: a ct guest (lodge exec), a vm guest (its console) or a bare namespace. */
type Shell = (script: string) => Promise<{ code: number; stdout: string; stderr: string }>;

/**
 * MB/s of `dd | nc` to `to`, timed by busybox's time around dd alone (its wall time ends when
 * nc has taken all but the last pipe buffer; nc's own wait for the far side is not counted).
 */
async function throughput(from: Shell, to: Shell, address: string, megabytes: number): Promise<number> {
  // the listener's stdin stays open (busybox nc hangs up at its end of input), for 60 s at most
  await to('(sleep 60 | nc -l -p 5001 > /dev/null 2>&1) > /dev/null 2>&1 &');
  let r = { code: -1, stdout: '', stderr: '' };
  for (let i = 0; i < 20; i++) {
    r = await from(`time sh -c "dd if=/dev/zero bs=64k count=${megabytes * 16} 2>/dev/null" 2>/tmp/lodge-bench-time | nc -w 1 ${address} 5001; cat /tmp/lodge-bench-time`);
    const m = /real\s+(\d+)m\s*([\d.]+)s/.exec(r.stdout + r.stderr);
    if (r.code === 0 && m) return megabytes / (Number(m[1]) * 60 + Number(m[2]));
    execFileSync('sleep', ['0.2']);
  }
  throw new Error(`no transfer to ${address}: ${r.stdout}${r.stderr}`);
}

async function rttMs(from: Shell, address: string): Promise<number> {
  const r = await from(`ping -c 20 -i 0.2 ${address}`);
  const m = /min\/avg\/max = [\d.]+\/([\d.]+)\//.exec(r.stdout);
  if (!m) throw new Error(`ping ${address} failed: ${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

export const net: Benchmark = async (ctx) => {
  const runs = ctx.options.runs ?? 5;
  const megabytes = Number(ctx.options.megabytes ?? 128);
  // QEMU under TCG moves a few MB/s: a smaller transfer for the vm pair
  const vmMegabytes = Number(ctx.options['vm-megabytes'] ?? 16);
  const d = await privateDaemon(ctx, { netns: true });
  const bare = [`lodge-bn-a-${process.pid}`, `lodge-bn-b-${process.pid}`] as const;
  ctx.defer(() => bare.forEach((ns) => spawnSync('ip', ['netns', 'del', ns])));
  if (d.lodge(['network', 'create', 'bench', '--subnet', '10.70.0.0/24']).code !== 0) throw new Error('network create failed');
  for (const [name, address] of [['a', '10.70.0.11'], ['b', '10.70.0.12']]) {
    if (d.lodge(['launch', 'busybox', name!, '--network', `bench=${address}`]).code !== 0) throw new Error(`launch ${name} failed`);
  }
  const guest = (name: string): Shell => async (script) => d.lodge(['exec', name, '--', 'sh', '-c', script]);
  const vms = ctx.options['no-vm'] ? [] : ['va', 'vb'];
  for (const [i, name] of vms.entries()) {
    if (d.lodge(['launch', 'busybox', name, '--kind', 'vm', '--network', `bench=10.70.0.${21 + i}`]).code !== 0) throw new Error(`launch ${name} failed`);
    await consoleExpect(d, name, 'echo up-$((1+1))\n', /up-2/, 180_000, 3000);
  }
  /** A vm has no exec: the script is typed on its console, and its output read back up to a marker with its exit status. */
  let typed = 0;
  const vmShell = (name: string): Shell => async (script) => {
    const n = ++typed;
    const begin = `begin-${n}-42`;
    const done = new RegExp(`done-(\\d+)-${n}-42`);
    const seen = await consoleExpect(d, name, `echo "begin-${n}-$((6*7))"\n${script}\necho "done-$?-${n}-$((6*7))"\n`, done, 120_000);
    // the console replays what it showed before, and echoes what is typed: the output lies between the two markers
    return { code: Number(done.exec(seen)![1]), stdout: seen.slice(seen.lastIndexOf(begin) + begin.length, seen.search(done)), stderr: '' };
  };
  // the vms' udhcpc may still be asking: wait until a ping gets through
  for (let i = 0; vms.length > 0 && (await vmShell('va')('ping -c 1 -W 2 10.70.0.22')).code !== 0; i++) if (i > 30) throw new Error('the two vms cannot ping each other');

  // the limit: two namespaces and one veth, nothing else
  for (const ns of bare) execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['-n', bare[0], 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', bare[1]]);
  bare.forEach((ns, i) => {
    execFileSync('ip', ['-n', ns, 'addr', 'add', `10.71.0.${i + 1}/24`, 'dev', 'eth0']);
    for (const dev of ['eth0', 'lo']) execFileSync('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  });
  const netns = (ns: string): Shell => async (script) => {
    const r = spawnSync('ip', ['netns', 'exec', ns, '/bin/busybox', 'sh', '-c', script], { encoding: 'utf8', timeout: 120_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };

  const lodge = { mbps: [] as number[], rtt: [] as number[] };
  const vm = { mbps: [] as number[], rtt: [] as number[] };
  const raw = { mbps: [] as number[], rtt: [] as number[] };
  // an idle vm under TCG still takes CPU time: the vms are paused while the others are measured
  const vmsRunning = async (running: boolean) => {
    for (const name of vms) await d.done(await d.client.guests.changeState(name, { action: running ? 'resume' : 'pause' }));
  };
  for (let i = 0; i < runs; i++) {
    await vmsRunning(false);
    lodge.mbps.push(await throughput(guest('a'), guest('b'), '10.70.0.12', megabytes));
    raw.mbps.push(await throughput(netns(bare[0]), netns(bare[1]), '10.71.0.2', megabytes));
    lodge.rtt.push(await rttMs(guest('a'), '10.70.0.12'));
    raw.rtt.push(await rttMs(netns(bare[0]), '10.71.0.2'));
    if (vms.length === 0) continue;
    await vmsRunning(true);
    vm.mbps.push(await throughput(vmShell('va'), vmShell('vb'), '10.70.0.22', vmMegabytes));
    vm.rtt.push(await rttMs(vmShell('va'), '10.70.0.22'));
  }
  const pair = (what: string, xs: { mbps: number[]; rtt: number[] }) => ({
    throughput: series(`${what}: TCP throughput`, 'MB/s', xs.mbps),
    roundTrip: series(`${what}: round trip (ping)`, 'ms', xs.rtt),
  });
  const bareLimit = pair('two bare namespaces on one veth', raw);
  const ct = pair('two ct guests on a Lodge bridge', lodge);
  const ratios = (p: typeof ct) => ({ throughput: compare(p.throughput, bareLimit.throughput), roundTrip: compare(p.roundTrip, bareLimit.roundTrip) });
  const ctVsBare = ratios(ct);
  const vmVsBare = vms.length > 0 ? ratios(pair('two vm guests (QEMU TCG, virtio-net) on a Lodge bridge', vm)) : undefined;
  const line = (c: Comparison) => `${show(c.lodge)}: ratio ${c.ratio.toFixed(2)}`;
  ctx.log(`busybox dd | nc (${megabytes} MB; vm ${vmMegabytes} MB) and ping, alternated`);
  ctx.log(show(bareLimit.throughput));
  ctx.log(show(bareLimit.roundTrip));
  for (const r of [ctVsBare, vmVsBare]) if (r) ctx.log(`${line(r.throughput)}\n  ${line(r.roundTrip)}`);
  const f = (c: Comparison) => `${c.lodge.median.toFixed(c.lodge.unit === 'ms' ? 3 : 0)} ${c.lodge.unit} (${c.ratio.toFixed(2)})`;
  return {
    summary: `against bare veth: ct pair ${f(ctVsBare.throughput)}, ${f(ctVsBare.roundTrip)}${vmVsBare ? `; vm pair ${f(vmVsBare.throughput)}, ${f(vmVsBare.roundTrip)}` : ''}`,
    result: { megabytes, ...(vmVsBare ? { vmMegabytes, vm: vmVsBare } : {}), ct: ctVsBare, bare: bareLimit },
  };
};
