/**
 * @module Runs generated requests against a private lodged and counts what came back: by
 * status, 5xx, hangs, answers without the registered shape, and lodged's deaths (it is
 * restarted after each, so that a long run reports all of them). Used by the system test
 * and by `npm run soak -- --fuzz N`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TestDaemon } from '../system/harness.js';
import { fuzzRequests, type FuzzTargets, type OpenApiDocument } from './api-fuzz.js';
import { judge, send } from './send.js';

const docFile = fileURLToPath(new URL('../../../docs/openapi.json', import.meta.url));

export const openApiDocument = (): OpenApiDocument => JSON.parse(readFileSync(docFile, 'utf8')) as OpenApiDocument;

export interface FuzzCounts {
  requests: number;
  byStatus: Record<string, number>;
  serverErrors: number;
  hangs: number;
  deaths: number;
  /** Each answer that was not a registered 4xx: what was sent, and what was wrong. */
  failures: Array<{ label: string; problem: string }>;
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Names of what lodged holds, to send the fuzz at. */
export async function fuzzTargets(d: TestDaemon, guest: string): Promise<FuzzTargets> {
  const ops = await d.client.operations.list();
  return { guest, image: 'busybox', network: 'fuzz-net', operation: ops[0]?.id ?? '00000000-0000-4000-8000-000000000000' };
}

export async function runFuzz(d: TestDaemon, options: { count: number; seed: number; targets: FuzzTargets; timeoutMs?: number; concurrency?: number; onProgress?: (c: FuzzCounts) => void }): Promise<FuzzCounts> {
  const counts: FuzzCounts = { requests: 0, byStatus: {}, serverErrors: 0, hangs: 0, deaths: 0, failures: [] };
  const requests = fuzzRequests(openApiDocument(), options.seed, options.targets);
  let taken = 0;
  let restarting: Promise<void> | undefined;
  // workers share one generator: the requests are the seed's, whatever the concurrency
  const worker = async () => {
    while (taken < options.count) {
      taken++;
      const req = requests.next().value!;
      await restarting;
      const answer = await send(d.socket, req, options.timeoutMs ?? 15_000);
      counts.requests++;
      const status = answer.status === undefined ? (answer.hung ? 'hang' : answer.closedOnBody ? 'closed on a body over the limit' : 'none') : String(answer.status);
      counts.byStatus[status] = (counts.byStatus[status] ?? 0) + 1;
      if (answer.status !== undefined && answer.status >= 500) counts.serverErrors++;
      if (answer.hung) counts.hangs++;
      const problem = judge(req, answer);
      if (problem) counts.failures.push({ label: req.label, problem });
      if (!restarting && !alive(d.pid)) {
        counts.deaths++;
        counts.failures.push({ label: req.label, problem: `lodged died: ${d.stderr.slice(-2000)}` });
        restarting = d.start().finally(() => (restarting = undefined));
      }
      if (options.onProgress && counts.requests % 500 === 0) options.onProgress(counts);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 1 }, worker));
  return counts;
}
