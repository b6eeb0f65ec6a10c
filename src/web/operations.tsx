/**
 * @module Operations, live: each long action with its status, progress bar, step and, once it
 * ended, where its time went (its step timings). The operations page lists them all; a guest's
 * page the ones about that guest.
 */
import { useState } from 'preact/hooks';
import type { Operation } from '../api/operations.js';
import { type ApiError, call } from './api.js';
import { when } from './format.js';
import { useLive } from './live.js';

/** Whether an operation's target is the guest `name` or something of it (NAME/SNAPSHOT). */
export const aboutGuest = (name: string, target: string) => target === name || target.startsWith(`${name}/`);

/** The operations whose target `keep` accepts (all of them when not given), newest first, read again as events come. */
export function OperationsTable({ keep, limit }: { keep?: (op: Operation) => boolean; limit?: number }) {
  const [ops, setOps] = useState<Operation[] | undefined>(undefined);
  const [error, setError] = useState('');
  useLive(
    () => call<Operation[]>('GET', '/1.0/operations').then(
      (list) => setOps(list.filter((o) => !keep || keep(o)).sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, limit)),
      (e: ApiError) => setError(e.message),
    ),
    [],
    (e) => e.type === 'operation',
  );
  if (error) return <p class="error" role="alert">{error}</p>;
  if (!ops) return <p aria-busy="true">Loading operations…</p>;
  if (ops.length === 0) return <p>No operations yet.</p>;
  return (
    <table class="operations">
      <thead>
        <tr><th>Action</th><th>Target</th><th>Status</th><th>Progress</th><th>Step</th><th>Started</th></tr>
      </thead>
      <tbody>
        {ops.map((o) => (
          <tr key={o.id} data-operation={o.id}>
            <td>{o.action}</td>
            <td>{o.target}</td>
            <td><span class={`status status-${o.status}`}>{o.status}</span></td>
            <td><progress max={100} value={o.progress} aria-label={`${o.action} ${o.target} progress`} /> {Math.round(o.progress)}%</td>
            <td>
              {o.error ? <span class="field-error">{o.error.message}</span> : o.step}
              {o.timings && o.timings.length > 0 && (
                <details>
                  <summary>timings</summary>
                  <ul class="timings">{o.timings.map((t, i) => <li key={i}>{t.step}: {t.ms.toFixed(0)} ms</li>)}</ul>
                </details>
              )}
            </td>
            <td>{when(o.createdAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function OperationsPage() {
  return (
    <section aria-label="Operations">
      <h1>Operations</h1>
      <OperationsTable />
    </section>
  );
}
