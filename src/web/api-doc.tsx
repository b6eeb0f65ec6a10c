/**
 * @module The REST API as this lodged describes it (its own /1.0/openapi.json): each endpoint
 * with its method, the role it needs (x-lodge-role), what it does, and its schemas (parameters,
 * body, answers) unfolded on demand. A filter narrows the list by path, tag or words.
 */
import { useEffect, useState } from 'preact/hooks';
import { type ApiError, call } from './api.js';

interface OpenApiOperation {
  summary?: string;
  tags?: string[];
  'x-lodge-role'?: string;
  parameters?: unknown[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>;
}
interface OpenApiDocument {
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, OpenApiOperation>>;
}

const methods = ['get', 'post', 'put', 'patch', 'delete'];

function Schema({ title, value }: { title: string; value: unknown }) {
  return (
    <details>
      <summary>{title}</summary>
      <pre class="schema">{JSON.stringify(value, null, 2)}</pre>
    </details>
  );
}

export function ApiDocPage() {
  const [doc, setDoc] = useState<OpenApiDocument | undefined>(undefined);
  const [error, setError] = useState('');
  const [filter, setFilter] = useState('');
  useEffect(() => void call<OpenApiDocument>('GET', '/1.0/openapi.json').then(setDoc, (e: ApiError) => setError(e.message)), []);
  if (error) return <p class="error" role="alert">{error}</p>;
  if (!doc) return <p aria-busy="true">Loading the API's description…</p>;
  const words = filter.toLowerCase();
  const endpoints = Object.entries(doc.paths).flatMap(([path, ops]) =>
    methods.flatMap((m) => (ops[m] ? [{ path, method: m, op: ops[m]! }] : [])).filter(({ path: p, op }) => !words || `${p} ${op.summary ?? ''} ${(op.tags ?? []).join(' ')}`.toLowerCase().includes(words)),
  );
  return (
    <section aria-label="API">
      <div class="toolbar">
        <h1>{doc.info.title} {doc.info.version}</h1>
        <input type="search" aria-label="Filter endpoints" placeholder="Filter: path, tag or words" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} data-filter />
      </div>
      <p class="muted">{doc.info.description}</p>
      <p class="muted">{endpoints.length} endpoints. The whole document: <a href="/1.0/openapi.json" target="_blank" rel="noreferrer">/1.0/openapi.json</a>.</p>
      {endpoints.map(({ path, method, op }) => (
        <div class="endpoint" key={`${method} ${path}`} data-endpoint={`${method.toUpperCase()} ${path}`}>
          <div>
            <span class={`method method-${method}`}>{method.toUpperCase()}</span> <code>{path}</code> <span class="role">{op['x-lodge-role'] ?? ''}</span>
          </div>
          {op.summary && <div>{op.summary}</div>}
          {op.parameters && op.parameters.length > 0 && <Schema title="parameters" value={op.parameters} />}
          {Object.entries(op.requestBody?.content ?? {}).map(([type, c]) => <Schema key={type} title={`body (${type})`} value={c.schema} />)}
          {Object.entries(op.responses ?? {}).map(([status, r]) => (
            <Schema key={status} title={r.description && r.description !== 'Default Response' ? `${status}: ${r.description}` : `answer ${status}`} value={Object.values(r.content ?? {})[0]?.schema ?? null} />
          ))}
        </div>
      ))}
    </section>
  );
}
