/**
 * @module api: requests per second and p50/p99 latency of `GET /1.0/guests` with N
 * running containers (--count, default 1000), and of `GET /1.0/guests/NAME`, over the unix
 * socket with autocannon (10 connections, 10 s each). Beside them, `GET /1.0` (the host
 * record: no guest is read) as the floor of the HTTP stack, and the latency of one
 * Prometheus scraping `GET /1.0/metrics` (one connection: concurrent scrapes share a reading),
 * which issue 16 wants under 100 ms for 1,000 guests.
 */
import autocannon from 'autocannon';
import { pool, privateDaemon, type Benchmark } from './bench.js';

async function load(socketPath: string, urlPath: string, connections = 10) {
  const r = await autocannon({ url: `http://localhost${urlPath}`, socketPath, connections, duration: 10 });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`GET ${urlPath}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
  return { path: urlPath, requestsPerSecond: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99 };
}

export const api: Benchmark = async (ctx) => {
  const count = ctx.options.count ?? 1000;
  const d = await privateDaemon(ctx);
  ctx.log(`launching ${count} containers (no NIC)`);
  const names = Array.from({ length: count }, (_, i) => `g${i}`);
  await pool(names, 8, async (name) => d.done(await d.client.guests.launch({ name, image: 'busybox', networks: [] })));
  const results = [];
  for (const urlPath of ['/1.0', '/1.0/guests', `/1.0/guests/g${count >> 1}`]) {
    const r = await load(d.socket, urlPath);
    ctx.log(`GET ${r.path}: ${r.requestsPerSecond.toFixed(0)} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`);
    results.push(r);
  }
  const metrics = await load(d.socket, '/1.0/metrics', 1);
  ctx.log(`GET /1.0/metrics (one scraper): p50 ${metrics.p50Ms} ms, p99 ${metrics.p99Ms} ms`);
  const [, list, one] = results;
  return {
    summary: `with ${count} guests: GET /1.0/guests ${list!.requestsPerSecond.toFixed(0)} req/s (p50 ${list!.p50Ms} ms, p99 ${list!.p99Ms} ms); GET one guest ${one!.requestsPerSecond.toFixed(0)} req/s (p99 ${one!.p99Ms} ms); a metrics scrape p50 ${metrics.p50Ms} ms (p99 ${metrics.p99Ms} ms)`,
    result: { count, connections: 10, seconds: 10, endpoints: results, metrics: { ...metrics, connections: 1 } },
  };
};
