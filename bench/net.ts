/**
 * bench/net: TCP throughput and round-trip time between two ct guests on one Lodge
 * network (veths on a bridge, with Lodge's nftables rules) and between two vm guests on
 * one (taps, virtio-net, QEMU under TCG here), against the limit: two bare network
 * namespaces joined by one veth. All three pairs run the same busybox tools. Everything
 * runs inside network namespaces this script makes (lodged in one of them) and removes.
 * Runs alternate; prints medians, min-max and the ratios, writes bench/results/net.json.
 * Usage: npm run bench:net [-- --runs N --megabytes M --no-vm]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { median, series } from './stats.js';
import { consoleExpect, TestDaemon } from '../test/system/harness.js';
import { mkdirSync, writeFileSync } from 'node:fs';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, megabytes: { type: 'string', default: '128' }, 'vm-megabytes': { type: 'string', default: '16' }, 'no-vm': { type: 'boolean' } },
});
const runs = Number(values.runs);
const megabytes = Number(values.megabytes);
// QEMU under TCG moves a few MB/s: a smaller transfer for the vm pair
const vmMegabytes = Number(values['vm-megabytes']);

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

const d = new TestDaemon({ netns: true });
const bare = [`lodge-bn-a-${process.pid}`, `lodge-bn-b-${process.pid}`] as const;
try {
  await d.start();
  await d.buildBusybox();
  if (d.lodge(['network', 'create', 'bench', '--subnet', '10.70.0.0/24']).code !== 0) throw new Error('network create failed');
  for (const [name, address] of [['a', '10.70.0.11'], ['b', '10.70.0.12']]) {
    if (d.lodge(['launch', 'busybox', name!, '--network', `bench=${address}`]).code !== 0) throw new Error(`launch ${name} failed`);
  }
  const guest = (name: string): Shell => async (script) => d.lodge(['exec', name, '--', 'sh', '-c', script]);
  const vms = values['no-vm'] ? [] : ['va', 'vb'];
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
  for (let i = 0; i < runs; i++) {
    lodge.mbps.push(await throughput(guest('a'), guest('b'), '10.70.0.12', megabytes));
    raw.mbps.push(await throughput(netns(bare[0]), netns(bare[1]), '10.71.0.2', megabytes));
    if (vms.length > 0) vm.mbps.push(await throughput(vmShell('va'), vmShell('vb'), '10.70.0.22', vmMegabytes));
    lodge.rtt.push(await rttMs(guest('a'), '10.70.0.12'));
    raw.rtt.push(await rttMs(netns(bare[0]), '10.71.0.2'));
    if (vms.length > 0) vm.rtt.push(await rttMs(vmShell('va'), '10.70.0.22'));
  }
  const result = {
    benchmark: 'net',
    runs,
    megabytes,
    ...(vms.length > 0 ? { vmMegabytes } : {}),
    ctPair: { throughputMBps: series('two ct guests on a Lodge bridge (MB/s)', lodge.mbps), rttMs: series('two ct guests, ping (ms)', lodge.rtt) },
    ...(vms.length > 0
      ? {
          vmPair: { throughputMBps: series('two vm guests (TCG) on a Lodge bridge (MB/s)', vm.mbps), rttMs: series('two vm guests, ping (ms)', vm.rtt) },
          vmThroughputRatio: median(vm.mbps) / median(raw.mbps),
          vmRttRatio: median(vm.rtt) / median(raw.rtt),
        }
      : {}),
    barePair: { throughputMBps: series('two bare namespaces on one veth (MB/s)', raw.mbps), rttMs: series('two bare namespaces, ping (ms)', raw.rtt) },
    throughputRatio: median(lodge.mbps) / median(raw.mbps),
    rttRatio: median(lodge.rtt) / median(raw.rtt),
    date: new Date().toISOString(),
  };
  console.log(`TCP throughput (busybox dd | nc, ${megabytes} MB): ct pair ${median(lodge.mbps).toFixed(0)} MB/s, bare veth ${median(raw.mbps).toFixed(0)} MB/s, ratio ${result.throughputRatio.toFixed(2)}`);
  console.log(`round trip (ping, median of ${runs} x 20): ct pair ${median(lodge.rtt).toFixed(3)} ms, bare veth ${median(raw.rtt).toFixed(3)} ms, ratio ${result.rttRatio.toFixed(2)}`);
  if (vms.length > 0) {
    console.log(`vm pair (QEMU TCG, virtio-net, ${vmMegabytes} MB): ${median(vm.mbps).toFixed(0)} MB/s, ratio ${(median(vm.mbps) / median(raw.mbps)).toFixed(2)}; round trip ${median(vm.rtt).toFixed(3)} ms, ratio ${(median(vm.rtt) / median(raw.rtt)).toFixed(2)}`);
  }
  const out = new URL('../../bench/results/', import.meta.url);
  mkdirSync(out, { recursive: true });
  writeFileSync(new URL('net.json', out), `${JSON.stringify(result, null, 2)}\n`);
} finally {
  for (const ns of bare) spawnSync('ip', ['netns', 'del', ns]);
  await d.cleanup();
}
