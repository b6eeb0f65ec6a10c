/**
 * bench/net: TCP throughput and round-trip time between two ct guests on one Lodge
 * network (veths on a bridge, with Lodge's nftables rules), against the limit: two bare
 * network namespaces joined by one veth, running the same busybox tools. Everything runs
 * inside network namespaces this script makes (lodged in one of them) and removes.
 * Runs alternate; prints medians, min-max and the ratios, writes bench/results/net.json.
 * Usage: npm run bench:net [-- --runs N --megabytes M]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { median, series } from './stats.js';
import { TestDaemon } from '../test/system/harness.js';
import { mkdirSync, writeFileSync } from 'node:fs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, megabytes: { type: 'string', default: '256' } } });
const runs = Number(values.runs);
const blocks = Number(values.megabytes) * 16; // of 64 KiB

/** Runs a shell command in one end of the pair: a guest (through lodge exec) or a bare namespace. */
type Shell = (script: string) => { code: number; stdout: string; stderr: string };

/**
 * MB/s of `dd | nc` to `to`, timed by busybox's time around dd alone (its wall time ends when
 * nc has taken all but the last pipe buffer; nc's own wait for the far side is not counted).
 */
function throughput(from: Shell, to: Shell, address: string): number {
  // the listener's stdin stays open (busybox nc hangs up at its end of input), for 20 s at most
  to('(sleep 20 | nc -l -p 5001 > /dev/null 2>&1) > /dev/null 2>&1 &');
  for (let i = 0; i < 20; i++) {
    const r = from(`time sh -c "dd if=/dev/zero bs=64k count=${blocks} 2>/dev/null" 2>/tmp/lodge-bench-time | nc -w 1 ${address} 5001; cat /tmp/lodge-bench-time`);
    const m = /real\s+(\d+)m\s*([\d.]+)s/.exec(r.stdout + r.stderr);
    if (r.code === 0 && m) return blocks / 16 / (Number(m[1]) * 60 + Number(m[2]));
    execFileSync('sleep', ['0.2']);
  }
  throw new Error(`no transfer to ${address}`);
}

function rttMs(from: Shell, address: string): number {
  const r = from(`ping -c 20 -i 0.2 ${address}`);
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
  const guest = (name: string): Shell => (script) => d.lodge(['exec', name, '--', 'sh', '-c', script]);

  // the limit: two namespaces and one veth, nothing else
  for (const ns of bare) execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['-n', bare[0], 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', bare[1]]);
  bare.forEach((ns, i) => {
    execFileSync('ip', ['-n', ns, 'addr', 'add', `10.71.0.${i + 1}/24`, 'dev', 'eth0']);
    for (const dev of ['eth0', 'lo']) execFileSync('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  });
  const netns = (ns: string): Shell => (script) => {
    const r = spawnSync('ip', ['netns', 'exec', ns, '/bin/busybox', 'sh', '-c', script], { encoding: 'utf8', timeout: 120_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };

  const lodge = { mbps: [] as number[], rtt: [] as number[] };
  const raw = { mbps: [] as number[], rtt: [] as number[] };
  for (let i = 0; i < runs; i++) {
    lodge.mbps.push(throughput(guest('a'), guest('b'), '10.70.0.12'));
    raw.mbps.push(throughput(netns(bare[0]), netns(bare[1]), '10.71.0.2'));
    lodge.rtt.push(rttMs(guest('a'), '10.70.0.12'));
    raw.rtt.push(rttMs(netns(bare[0]), '10.71.0.2'));
  }
  const result = {
    benchmark: 'net',
    runs,
    megabytes: blocks / 16,
    ctPair: { throughputMBps: series('two ct guests on a Lodge bridge (MB/s)', lodge.mbps), rttMs: series('two ct guests, ping (ms)', lodge.rtt) },
    barePair: { throughputMBps: series('two bare namespaces on one veth (MB/s)', raw.mbps), rttMs: series('two bare namespaces, ping (ms)', raw.rtt) },
    throughputRatio: median(lodge.mbps) / median(raw.mbps),
    rttRatio: median(lodge.rtt) / median(raw.rtt),
    date: new Date().toISOString(),
  };
  console.log(`TCP throughput (busybox dd | nc, ${blocks / 16} MB): ct pair ${median(lodge.mbps).toFixed(0)} MB/s, bare veth ${median(raw.mbps).toFixed(0)} MB/s, ratio ${result.throughputRatio.toFixed(2)}`);
  console.log(`round trip (ping, median of ${runs} x 20): ct pair ${median(lodge.rtt).toFixed(3)} ms, bare veth ${median(raw.rtt).toFixed(3)} ms, ratio ${result.rttRatio.toFixed(2)}`);
  const out = new URL('../../bench/results/', import.meta.url);
  mkdirSync(out, { recursive: true });
  writeFileSync(new URL('net.json', out), `${JSON.stringify(result, null, 2)}\n`);
} finally {
  for (const ns of bare) spawnSync('ip', ['netns', 'del', ns]);
  await d.cleanup();
}
