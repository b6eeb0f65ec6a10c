/**
 * GET /1.0/metrics read by the real client: one private lodged (in a network namespace of
 * its own, with its HTTPS listener on that namespace's loopback) runs a busybox guest of each
 * kind (the vm's vCPU, balloon and disk counters come from QMP); its exposition passes `promtool check metrics`; then Debian's Prometheus, started
 * in the same namespace with its own config and storage, scrapes lodged over HTTPS (lodged's
 * certificate as its CA, a viewer's token) every second and answers a PromQL query for the
 * ct guest's CPU after the guest burned some. Prometheus is killed by its pid and its
 * directory removed, also when a test fails.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { guestSh, requireProgram, TestDaemon } from './harness.js';

const d = new TestDaemon({ netns: true, args: ['--listen', '127.0.0.1:0'] });
let prometheus: ChildProcess | undefined;
/** The namespace is the test's own and new: nothing else listens on its loopback, so a fixed port is free. */
const prometheusPort = 9090;

before(async () => {
  requireProgram('promtool', 'prometheus');
  requireProgram('/usr/bin/prometheus', 'prometheus');
  requireProgram('curl', 'curl');
  requireProgram('/usr/bin/qemu-system-x86_64', 'qemu-system-x86');
  await d.start();
  await d.buildBusybox();
  await Promise.all([d.launch('c1'), d.launch('p1', { kind: 'pv' }), d.launch('v1', { kind: 'vm', limits: { memory: '128M' } })]);
});

after(async () => {
  if (prometheus?.pid !== undefined && prometheus.exitCode === null) {
    const exited = new Promise((r) => prometheus!.once('exit', r));
    process.kill(prometheus.pid, 'SIGKILL');
    await exited;
  }
  // its directory is under the daemon's, which cleanup removes
  await d.cleanup();
});

/** GET /1.0/metrics on the unix socket: its status, content type and text. */
function scrape(): Promise<{ status: number; type: string; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath: d.socket, path: '/1.0/metrics' }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), text }));
      })
      .on('error', reject);
  });
}

const sample = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

test('the exposition passes promtool check metrics and has each guest, the host and lodged in it', async () => {
  // the vm's QMP counters are kept 5 s: the first scrape comes once its vCPUs have run, as lodge info shows
  for (let i = 0; i < 80 && ((await d.client.guests.get('v1')).machine?.stats?.vcpuSeconds ?? 0) === 0; i++) await sleep(250);
  const { status, type, text } = await scrape();
  assert.equal(status, 200);
  assert.match(type, /^text\/plain; version=0\.0\.4/);
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);
  for (const [name, kind] of [['c1', 'ct'], ['p1', 'pv'], ['v1', 'vm']]) {
    const labels = `{name="${name}",kind="${kind}"}`;
    assert.equal(sample(text, `lodge_guest_up${labels}`), 1, `${name} is up`);
    assert.ok(sample(text, `lodge_guest_cpu_seconds_total${labels}`)! > 0, `${name} has used CPU`);
    assert.ok(sample(text, `lodge_guest_memory_used_bytes${labels}`)! > 0, `${name} uses memory`);
    assert.ok(sample(text, `lodge_guest_processes${labels}`)! >= 1, `${name} has processes`);
    // its NIC's host end has seen at least the guest's own DHCP or ARP traffic, or the bridge's
    assert.notEqual(sample(text, `lodge_guest_network_receive_bytes_total{name="${name}",kind="${kind}",nic="eth0"}`), undefined, `${name}'s eth0 is counted`);
  }
  const vm = '{name="v1",kind="vm"}';
  assert.ok(sample(text, `lodge_guest_vcpu_seconds_total${vm}`)! > 0, 'the vm has run its vCPUs');
  assert.equal(sample(text, `lodge_guest_balloon_bytes${vm}`), 128 * 2 ** 20, 'the balloon holds what the vm was given');
  assert.notEqual(sample(text, `lodge_guest_disk_reads_total${vm}`), undefined, "the vm's disk requests are counted");
  assert.equal(sample(text, 'lodge_guest_vcpu_seconds_total{name="c1",kind="ct"}'), undefined, 'a ct has no vCPUs');
  assert.equal(sample(text, 'lodge_guests{kind="ct",state="running"}'), 1);
  assert.equal(sample(text, 'lodge_guests{kind="vm",state="stopped"}'), 0);
  assert.equal(sample(text, 'lodge_operations_total{action="guest.launch",outcome="success"}'), 3);
  assert.match(text, /^lodge_operation_duration_seconds_bucket\{action="guest.launch",le="\+Inf"\} 3$/m);
  assert.match(text, /^lodge_host_cpu_seconds_total\{mode="idle"\} \d/m);
  assert.match(text, /^lodge_pool_size_bytes\{pool="default"\} [1-9]/m);
  // cgroup v1 has no pressure files: no guest series rather than a zero
  assert.doesNotMatch(text, /^lodge_guest_pressure_stalled_seconds_total\{/m);
  const again = await scrape();
  assert.ok(sample(again.text, 'lodge_api_requests_total{method="GET",route="/1.0/metrics",status="200"}')! >= 1, 'the first scrape is counted');
});

/** A PromQL instant query to the Prometheus in the namespace (curl run there): its result vector. */
function query(promql: string): Array<{ metric: Record<string, string>; value: [number, string] }> {
  const r = d.inNetns(['curl', '-sf', '--get', '--data-urlencode', `query=${promql}`, `http://127.0.0.1:${prometheusPort}/api/v1/query`]);
  if (r.code !== 0) return [];
  const body = JSON.parse(r.stdout) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  return body.status === 'success' ? body.data.result : [];
}

test('a real Prometheus scrapes lodged over HTTPS with a viewer token and answers for a guest CPU', async () => {
  const user = d.lodge(['user', 'add', 'prom', '--role', 'viewer']);
  assert.equal(user.code, 0, user.stderr);
  const token = d.lodge(['token', 'add', 'scraper', '--user', 'prom']);
  assert.equal(token.code, 0, token.stderr);
  const port = (await d.client.host()).listen!.port;
  const dir = path.join(d.dir, 'prometheus');
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  writeFileSync(
    path.join(dir, 'prometheus.yml'),
    JSON.stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      scrape_configs: [
        {
          job_name: 'lodge',
          scheme: 'https',
          metrics_path: '/1.0/metrics',
          tls_config: { ca_file: path.join(d.stateDir, 'tls/server.crt') },
          authorization: { credentials: token.stdout.trim() },
          static_configs: [{ targets: [`127.0.0.1:${port}`] }],
        },
      ],
    }),
  );
  prometheus = spawn(
    'nsenter',
    [`--net=/run/netns/${d.netns}`, '/usr/bin/prometheus', `--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${prometheusPort}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  prometheus.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  // the guest burns CPU while Prometheus starts
  await guestSh(d, 'c1', 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done');
  const deadline = Date.now() + 20_000;
  let cpu: ReturnType<typeof query> = [];
  while (Date.now() < deadline && prometheus.exitCode === null) {
    cpu = query('lodge_guest_cpu_seconds_total{name="c1",kind="ct"} > 0.1');
    if (cpu.length > 0) break;
    await sleep(250);
  }
  // asked once the guest's CPU is there: a scrape has happened (asked before, it could precede the first)
  const up = query('up{job="lodge"}');
  assert.equal(prometheus.exitCode, null, `prometheus exited: ${log}`);
  assert.equal(up[0]?.value[1], '1', `Prometheus could not scrape lodged: ${JSON.stringify(query('up'))}\n${log.slice(-2000)}`);
  assert.equal(cpu.length, 1, `no CPU of c1 in Prometheus: ${log.slice(-2000)}`);
  assert.ok(Number(cpu[0]!.value[1]) > 0.1);
});
