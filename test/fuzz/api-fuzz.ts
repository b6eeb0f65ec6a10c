/**
 * @module Hostile requests generated from the OpenAPI document: from the document, a seed
 * and the names of objects that exist, it yields requests (pure: no I/O, the same seed
 * gives the same requests). Per operation: wrong types, missing and unknown fields,
 * values out of range, huge and deeply nested bodies (under and over the body limit),
 * invalid JSON, wrong content types, bad names in path parameters, wrong methods,
 * garbage query strings. Every request is invalid in at least one part the daemon checks
 * before it acts (a valid body is never sent to a valid path without a broken query), so
 * a daemon that answers them as it should creates, changes and deletes nothing.
 */

/** The subset of a JSON Schema (as the OpenAPI document holds them inline) the generator reads. */
export interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema | Schema[];
  minItems?: number;
  maxItems?: number;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  anyOf?: Schema[];
}

interface Parameter {
  name: string;
  in: 'path' | 'query';
  required?: boolean;
  schema: Schema;
}

interface Operation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: Schema }> };
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
}

/** Objects the daemon holds, so that requests reach a real guest, image and operation. */
export interface FuzzTargets {
  guest: string;
  image: string;
  network: string;
  operation: string;
}

export interface FuzzRequest {
  /** What was broken, e.g. `POST /1.0/guests body: wrong type at limits.cpu`. */
  label: string;
  method: string;
  /** Path and query, already encoded as sent. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Sent as bytes on a raw socket: a request line Node's client would refuse to send. */
  raw?: boolean;
}

/** The daemon's body limit (src/daemon/errors.ts). */
export const bodyLimit = 1 << 20;

const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** Names that no path parameter accepts, encoded as they go on the wire. */
export const badNames = [
  '..',
  '.',
  '%2e%2e',
  '..%2f..%2fetc',
  '%00',
  'a%00b',
  '%ZZ',
  '%',
  '%C3%A9t%C3%A9',
  '%F0%9F%A6%99',
  '%FF%FE',
  'a'.repeat(300),
  'A',
  '-a',
  'a_b',
  'a%20b',
  'a%2Fb',
  '%0d%0aX-Injected:%201',
  '__proto__',
  'constructor',
  '1e3',
  '-1',
  '0',
  '99999999999999999999',
];

/** Query strings no operation accepts (each has at least one unknown or broken parameter). */
export const garbageQueries = [
  '?x=1',
  '?%ZZ=1',
  '?a=%ZZ',
  '?=&&==&',
  '?__proto__=x',
  '?__proto__[polluted]=1',
  '?constructor[prototype][polluted]=1',
  '?a[]=1&a[]=2',
  `?${'q'.repeat(4000)}=1`,
  `?x=${'%00'.repeat(50)}`,
  '?%C3%A9=%F0%9F%A6%99',
  '?x=1&x=2&x=3',
];

/** Bodies that are not JSON, sent as application/json. */
const brokenJson = ['{', '{"name":', '{"name":"a",}', "{'name':'a'}", 'not json', '\u0000\u0001\u0002', '\ufeff{}', 'NaN', '{"a":1}{"b":2}', '[', '"unterminated', '{"a":"\\u12"}'];

/** Content types that are not JSON (the body is a valid-looking JSON object all the same). */
const wrongTypes = ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/vnd.api+json', 'application/octet-stream', 'application/json-patch+json', 'image/png', ';;;', 'application/json-but-not'];

/** A small seeded generator (mulberry32): the same seed gives the same run. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const typesOf = (s: Schema): string[] => (s.type === undefined ? [] : ([] as string[]).concat(s.type));

/** A value the schema accepts, as a base to break: required fields only, simplest values. */
export function validSample(s: Schema): unknown {
  if (s.enum?.length) return s.enum[0];
  const type = typesOf(s)[0];
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const key of s.required ?? []) out[key] = validSample(s.properties?.[key] ?? {});
      return out;
    }
    case 'array': {
      const items: Schema[] = Array.isArray(s.items) ? s.items : Array.from({ length: s.minItems ?? 0 }, () => (s.items as Schema | undefined) ?? {});
      return items.map((i) => validSample(i));
    }
    case 'integer':
      return s.minimum ?? 1;
    case 'number':
      return s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : 1);
    case 'boolean':
      return false;
    case 'string': {
      const candidates = ['fuzz-a', 'busybox', '/bin/true', 'SIGTERM', '1M', '10.99.0.0/24', 'tcp', 'a'];
      return candidates.find((c) => stringFits(s, c)) ?? 'a';
    }
    default:
      return s.anyOf?.length ? validSample(s.anyOf[0]!) : null;
  }
}

const stringFits = (s: Schema, v: string) =>
  (s.pattern === undefined || new RegExp(s.pattern, 'u').test(v)) && v.length >= (s.minLength ?? 0) && v.length <= (s.maxLength ?? Infinity);

/** Values of every JSON type, to put where another type is expected. */
const anyTypeValues: Array<[string, unknown]> = [
  ['string', 'x'],
  ['string', ''],
  ['number', 1.5],
  ['integer', -1],
  ['integer', 2 ** 53 + 2],
  ['boolean', true],
  ['null', null],
  ['array', []],
  ['array', [1, 'a', null]],
  ['object', {}],
  ['object', { nested: { deeper: [] } }],
];

/** A value of a JSON type the schema does not accept, if it names its types. */
function wrongTypeValue(s: Schema, rand: () => number): unknown {
  const allowed = typesOf(s);
  if (!allowed.length) return undefined;
  const numeric = allowed.includes('number') || allowed.includes('integer');
  // -1 is a number, 1.5 is no integer: a number is wrong only where numbers are not allowed, or a fraction where integers are
  const refused = anyTypeValues.filter(([t, v]) => !allowed.includes(t) && !(numeric && typeof v === 'number' && (allowed.includes('number') || Number.isInteger(v))));
  return refused.length ? pick(refused, rand)[1] : undefined;
}

/** A value of the right type that the schema refuses (outside the enum, pattern, range or length). */
function outOfRangeValue(s: Schema): unknown {
  if (s.enum?.length) return typeof s.enum[0] === 'string' ? 'not-a-member' : 123456789;
  const type = typesOf(s)[0];
  if (type === 'string') {
    const candidates = ['', '../../etc/passwd', 'a\u0000b', 'é', 'A'.repeat(300), ' ', '-', 'UPPER', '\n'];
    return candidates.find((c) => !stringFits(s, c));
  }
  if (type === 'integer' || type === 'number') {
    if (s.maximum !== undefined) return s.maximum + 1;
    if (s.minimum !== undefined) return s.minimum - 1;
    if (s.exclusiveMinimum !== undefined) return s.exclusiveMinimum;
    if (type === 'integer') return 1.5;
  }
  if (type === 'array' && s.minItems) return [];
  return undefined;
}

const pick = <T>(list: readonly T[], rand: () => number): T => list[Math.floor(rand() * list.length)]!;

/** Every property path of a sample body whose schema is known: [] is the body itself. */
function fieldPaths(s: Schema, prefix: string[] = []): Array<{ path: string[]; schema: Schema }> {
  const out = [{ path: prefix, schema: s }];
  for (const [key, child] of Object.entries(s.properties ?? {})) out.push(...fieldPaths(child, [...prefix, key]));
  return out;
}

/** Sets `value` at `path` in a copy of `body`, making the objects on the way. */
function setAt(body: unknown, path: string[], value: unknown): unknown {
  if (!path.length) return value;
  const [head, ...rest] = path;
  const obj = body !== null && typeof body === 'object' && !Array.isArray(body) ? { ...(body as Record<string, unknown>) } : {};
  obj[head!] = setAt(obj[head!], rest, value);
  return obj;
}

/** Nested arrays `depth` deep, as text. */
const deepArrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/** One broken body for an operation's schema: what was broken, the bytes, and the content type. */
function brokenBody(schema: Schema, rand: () => number): { what: string; body: string | Buffer; type: string } {
  const base = validSample(schema);
  const json = (v: unknown) => JSON.stringify(v);
  const fields = fieldPaths(schema).filter((f) => f.path.length > 0);
  const objects = fieldPaths(schema).filter((f) => typesOf(f.schema).includes('object') && f.schema.additionalProperties === false);
  const kind = pick(['wrong-type', 'missing', 'unknown', 'out-of-range', 'huge', 'deep', 'broken-json', 'content-type', 'not-object'], rand);
  switch (kind) {
    case 'wrong-type': {
      const candidates = fields.filter((f) => wrongTypeValue(f.schema, rand) !== undefined);
      if (!candidates.length) break;
      const f = pick(candidates, rand);
      return { what: `wrong type at ${f.path.join('.')}`, body: json(setAt(base, f.path, wrongTypeValue(f.schema, rand))), type: 'application/json' };
    }
    case 'missing': {
      const required = schema.required ?? [];
      if (!required.length) break;
      const key = pick(required, rand);
      const copy = { ...(base as Record<string, unknown>) };
      delete copy[key];
      return { what: `missing ${key}`, body: json(copy), type: 'application/json' };
    }
    case 'out-of-range': {
      const candidates = fields.filter((f) => outOfRangeValue(f.schema) !== undefined);
      if (!candidates.length) break;
      const f = pick(candidates, rand);
      return { what: `out of range at ${f.path.join('.')}`, body: json(setAt(base, f.path, outOfRangeValue(f.schema))), type: 'application/json' };
    }
    case 'huge': {
      // an unknown field makes it invalid whatever its size; over the limit it must be refused unread
      const size = pick([bodyLimit - 4096, bodyLimit + 1, bodyLimit * 2, 200_000], rand);
      const body = json({ ...(base as object), fuzzPadding: '' });
      return { what: `${size} bytes`, body: body.replace('"fuzzPadding":""', `"fuzzPadding":"${'x'.repeat(Math.max(0, size - body.length))}"`), type: 'application/json' };
    }
    case 'deep': {
      const depth = pick([20, 33, 1000, 100_000, 400_000], rand);
      const body = json({ ...(base as object), fuzzDeep: 0 }).replace('"fuzzDeep":0', `"fuzzDeep":${deepArrays(depth)}`);
      return { what: `nested ${depth} deep`, body, type: 'application/json' };
    }
    case 'broken-json': {
      const text = pick([...brokenJson, json(base).slice(0, -1)], rand);
      return { what: `invalid JSON ${JSON.stringify(text.slice(0, 20))}`, body: text, type: 'application/json' };
    }
    case 'content-type': {
      const type = pick(wrongTypes, rand);
      // a JSON body under another name: the daemon must not read it as JSON (text/plain gives a string, not an object)
      return { what: `content type ${type}`, body: json(base), type };
    }
    case 'not-object': {
      const v = pick([[], [base], 'x', 1, null, true], rand);
      return { what: `body is ${JSON.stringify(v).slice(0, 20)}`, body: json(v), type: 'application/json' };
    }
  }
  // the kind did not apply to this schema: an unknown field always does
  const target = objects.length ? pick(objects, rand) : { path: [] as string[] };
  return { what: `unknown field in ${target.path.join('.') || 'body'}`, body: json(setAt(base, [...target.path, 'fuzzUnknown'], 1)), type: 'application/json' };
}

/** The value that names a real object for a path parameter of a template (or overrides it). */
function fillPath(template: string, targets: FuzzTargets, override: Record<string, string> = {}): string {
  const real: Record<string, string> = {
    name: template.startsWith('/1.0/images/') ? targets.image : template.startsWith('/1.0/networks/') ? targets.network : targets.guest,
    id: targets.operation,
    proto: 'tcp',
    hostPort: '2222',
  };
  return template.replace(/\{(\w+)\}/g, (_, name: string) => override[name] ?? real[name] ?? 'fuzz-none');
}

/** A valid query for an operation (its required parameters), as a base that the body or path breaks. */
function validQuery(op: Operation): string {
  const required = (op.parameters ?? []).filter((p) => p.in === 'query' && p.required);
  const q = required.map((p) => `${p.name}=${encodeURIComponent(String(validSample(p.schema)))}`).join('&');
  return q ? `?${q}` : '';
}

/** Query parameters of the operation with values of the right name and a refused value. */
function brokenKnownQuery(op: Operation, rand: () => number): string | undefined {
  const params = (op.parameters ?? []).filter((p) => p.in === 'query');
  const candidates = params.filter((p) => outOfRangeValue(p.schema) !== undefined || wrongTypeValue(p.schema, rand) !== undefined);
  if (!candidates.length) return undefined;
  const p = pick(candidates, rand);
  const bad = outOfRangeValue(p.schema) ?? 'not-a-number';
  const others = params.filter((o) => o.required && o.name !== p.name).map((o) => `${o.name}=${encodeURIComponent(String(validSample(o.schema)))}`);
  return `?${[...others, `${p.name}=${encodeURIComponent(typeof bad === 'object' ? JSON.stringify(bad) : String(bad))}`].join('&')}`;
}

/**
 * Requests against every operation of the document, round after round, for ever (take
 * as many as wanted). `targets` names objects that exist, per path parameter.
 */
export function* fuzzRequests(doc: OpenApiDocument, seed: number, targets: FuzzTargets): Generator<FuzzRequest> {
  const rand = random(seed);
  const operations = Object.entries(doc.paths).flatMap(([template, ops]) => Object.entries(ops).map(([method, op]) => ({ template, method: method.toUpperCase(), op })));
  for (;;) {
    for (const { template, method, op } of operations) yield oneRequest(doc, template, method, op, targets, rand);
  }
}

function oneRequest(doc: OpenApiDocument, template: string, method: string, op: Operation, targets: FuzzTargets, rand: () => number): FuzzRequest {
  const bodySchema = op.requestBody?.content['application/json']?.schema;
  const pathParams = (op.parameters ?? []).filter((p) => p.in === 'path');
  const realPath = fillPath(template, targets);
  const id = `${method} ${template}`;
  const kinds = ['bad-name', 'garbage-query', 'wrong-method', 'raw'];
  if (bodySchema) kinds.push('body', 'body', 'body', 'body');
  else kinds.push('stray-body');
  if ((op.parameters ?? []).some((p) => p.in === 'query')) kinds.push('bad-query-value');
  let kind = pick(kinds, rand);
  if (kind === 'bad-name' && !pathParams.length) kind = 'garbage-query';

  // whatever the kind, a request with a body carries a broken one unless its path or query is broken
  const anyBody = () => (bodySchema ? brokenBody(bodySchema, rand) : { what: 'stray body', body: '{"fuzz":1}', type: 'application/json' });
  switch (kind) {
    case 'body': {
      const b = brokenBody(bodySchema!, rand);
      return { label: `${id} body: ${b.what}`, method, path: `${realPath}${validQuery(op)}`, headers: { 'content-type': b.type }, body: Buffer.from(b.body) };
    }
    case 'bad-name': {
      const param = pick(pathParams, rand);
      const name = pick(badNames, rand);
      const path = fillPath(template, targets, { [param.name]: name });
      // the body may be valid: the name is what must be refused
      const body = bodySchema ? JSON.stringify(validSample(bodySchema)) : undefined;
      return { label: `${id} path ${param.name}=${name.slice(0, 30)}`, method, path: `${path}${validQuery(op)}`, headers: body ? { 'content-type': 'application/json' } : {}, ...(body ? { body: Buffer.from(body) } : {}) };
    }
    case 'garbage-query': {
      const q = pick(garbageQueries, rand);
      const b = bodySchema ? anyBody() : undefined;
      return { label: `${id} query ${q.slice(0, 30)}${b ? ` + ${b.what}` : ''}`, method, path: `${realPath}${q}`, headers: b ? { 'content-type': b.type } : {}, ...(b ? { body: Buffer.from(b.body) } : {}) };
    }
    case 'bad-query-value': {
      const q = brokenKnownQuery(op, rand) ?? pick(garbageQueries, rand);
      const b = bodySchema ? anyBody() : undefined;
      return { label: `${id} query ${q.slice(0, 40)}`, method, path: `${realPath}${q}`, headers: b ? { 'content-type': b.type } : {}, ...(b ? { body: Buffer.from(b.body) } : {}) };
    }
    case 'stray-body': {
      // a body on an operation that takes none: sent with a broken query, as the path is real
      const b = pick([{ t: 'application/json', v: '{"force":true}' }, { t: 'application/json', v: 'not json' }, { t: 'text/plain', v: 'x' }, { t: 'application/json', v: deepArrays(50_000) }], rand);
      return { label: `${id} stray body ${b.t} + query`, method, path: `${realPath}${pick(garbageQueries, rand)}`, headers: { 'content-type': b.t }, body: Buffer.from(b.v) };
    }
    case 'wrong-method': {
      const defined = Object.keys(doc.paths[template] ?? {}).map((m) => m.toUpperCase());
      const others = methods.filter((m) => !defined.includes(m));
      if (!defined.includes('GET')) others.push('HEAD');
      others.push('FOO', 'PROPFIND');
      const m = pick(others, rand);
      const b = anyBody();
      return { label: `${m} ${template} (not an operation)`, method: m, path: realPath, headers: { 'content-type': b.type }, body: Buffer.from(b.body) };
    }
    default: {
      // bytes Node's client will not send: raw NUL, spaces and unicode in the request line, bad
      // headers; the query is broken too, in case the parser lets the rest through
      const target = `${realPath}?fuzz=1`;
      const line = pick(
        [
          `${method} ${target}\u0000 HTTP/1.1`,
          `${method} ${target.replace(/[^/]+\?/, 'a b?')} HTTP/1.1`,
          `${method} ${realPath}/\u00e9\u00ff?fuzz=1 HTTP/1.1`,
          `${method} ${target} HTTP/9.9`,
          `${method} ${target}`,
          `${method} \u0000 HTTP/1.1`,
          `${method} ${'/a'.repeat(5000)} HTTP/1.1`,
        ],
        rand,
      );
      const header = pick(['Content-Length: -1', 'Content-Length: abc', 'Transfer-Encoding: chunked\r\nContent-Length: 3', 'X: \u0000', 'Bad Header: x', ''], rand);
      const head = `${line}\r\nHost: lodge\r\nConnection: close\r\n${header ? `${header}\r\n` : ''}\r\n`;
      return { label: `raw ${JSON.stringify(line.slice(0, 40))} ${JSON.stringify(header)}`, method, path: realPath, headers: {}, body: Buffer.from(head, 'latin1'), raw: true };
    }
  }
}
