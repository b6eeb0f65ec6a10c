/**
 * The generator is pure and never sends a request lodged should carry out: the same seed
 * gives the same requests, and every request aimed at a real object through one of its
 * operations is refused by that operation's own schemas (a broken body, or a query that
 * the operation does not accept).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { fuzzRequests, type FuzzRequest, type FuzzTargets, type Schema } from './api-fuzz.js';
import { openApiDocument } from './run.js';

const targets: FuzzTargets = { guest: 'c1', image: 'busybox', network: 'n1', operation: '0b7c5a53-5d0e-4d4c-9a43-6f1b6a4f2e10' };
const take = (seed: number, n: number): FuzzRequest[] => {
  const out: FuzzRequest[] = [];
  for (const r of fuzzRequests(openApiDocument(), seed, targets)) if (out.push(r) >= n) break;
  return out;
};

test('the same seed gives the same requests', () => {
  assert.deepEqual(take(7, 300), take(7, 300));
  assert.notDeepEqual(take(7, 300), take(8, 300));
});

test('a request that reaches a real object through its operation always breaks that operation’s schemas', () => {
  const doc = openApiDocument();
  const strict = new Ajv({ strict: false });
  const lenient = new Ajv({ strict: false, coerceTypes: 'array' });
  let checked = 0;
  for (const req of take(1, 3000)) {
    if (req.raw) continue;
    const [method, template] = req.label.split(' ') as [string, string];
    const op = doc.paths[template]?.[method.toLowerCase()] as { parameters?: Array<{ name: string; in: string; required?: boolean; schema: Schema }>; requestBody?: { content: Record<string, { schema: Schema }> } } | undefined;
    if (!op || method !== req.method) continue; // a method the path does not have: nothing to carry out
    const realPath = template.replace('{name}', template.startsWith('/1.0/images/') ? targets.image : template.startsWith('/1.0/networks/') ? targets.network : targets.guest).replace('{id}', targets.operation).replace('{proto}', 'tcp').replace('{hostPort}', '2222');
    const [path, query = ''] = req.path.split('?') as [string, string?];
    if (path !== realPath) continue; // a bad name: lodged must refuse the name
    checked++;
    const params = (op.parameters ?? []).filter((p) => p.in === 'query');
    const querySchema = { type: 'object', properties: Object.fromEntries(params.map((p) => [p.name, p.schema])), required: params.filter((p) => p.required).map((p) => p.name), additionalProperties: false };
    const q: Record<string, unknown> = {};
    for (const [k, v] of new URLSearchParams(query)) q[k] = k in q ? ([] as unknown[]).concat(q[k], v) : v;
    const queryValid = lenient.validate(querySchema, q) && !/%(?![0-9a-f]{2})/i.test(query);
    const bodySchema = op.requestBody?.content['application/json']?.schema;
    let bodyValid = !bodySchema;
    if (bodySchema && req.body && req.headers['content-type'] === 'application/json') {
      try {
        bodyValid = strict.validate(bodySchema, JSON.parse(req.body.toString()));
      } catch {
        bodyValid = false;
      }
    } else if (bodySchema) bodyValid = false;
    assert.ok(!(queryValid && bodyValid), `${req.label}: ${req.method} ${req.path.slice(0, 100)} with ${req.body?.toString().slice(0, 100)} would be carried out`);
  }
  assert.ok(checked > 500, `only ${checked} requests reached a real object`);
});
