/**
 * @module The landing page: the host (CPU, memory, disk, load) from the history lodged keeps,
 * its guests counted by state and kind, the latest operations, and the guests that use the most
 * of each resource. Figures are read again at each sample of the history; counts as events come.
 */
import { useState } from 'preact/hooks';
import type { GuestKind } from '../api/common.js';
import type { Guest, GuestState } from '../api/guests.js';
import { type ApiError, call } from './api.js';
import { bytes, cpus, guestFigures, percent } from './format.js';
import { useHostHistory, useLive } from './live.js';
import { OperationsTable } from './operations.js';

// the API's lists as types only (the console downloads no schema code): the compiler checks that each is whole
const kindsOf: Record<GuestKind, true> = { ct: true, vm: true, pv: true };
const statesOf: Record<GuestState, true> = { running: true, stopped: true, paused: true, creating: true, error: true };
const guestKinds = Object.keys(kindsOf) as GuestKind[];
const guestStates = Object.keys(statesOf) as GuestState[];

const last = (column: Array<number | null>) => column.at(-1) ?? null;

/** A figure of the host, with a bar of how much of the whole it is. */
function Gauge({ label, used, whole, text }: { label: string; used: number | null; whole: number; text: string }) {
  return (
    <div class="card" data-gauge={label.toLowerCase()}>
      <div class="muted">{label}</div>
      <div class="figure">{text}</div>
      <meter min={0} max={whole || 1} value={used ?? 0} aria-label={`${label} used`} />
      <div class="muted">{used === null ? 'not read yet' : `${percent(used, whole)} of ${label === 'CPU' ? `${whole} CPUs` : bytes(whole)}`}</div>
    </div>
  );
}

export function DashboardPage() {
  const [guests, setGuests] = useState<Guest[] | undefined>(undefined);
  const [error, setError] = useState('');
  const history = useHostHistory(setError);
  useLive(() => call<Guest[]>('GET', '/1.0/guests').then(setGuests, (e: ApiError) => setError(e.message)), [], (e) => e.type === 'lifecycle');

  const count = (kind: string | undefined, state: string | undefined) => (guests ?? []).filter((g) => (!kind || g.kind === kind) && (!state || g.state === state)).length;
  return (
    <section aria-label="Dashboard">
      <h1>Dashboard</h1>
      {error && <p class="error" role="alert">{error}</p>}
      {history && (
        <div class="cards">
          <Gauge label="CPU" used={last(history.cpu)} whole={history.cpus} text={cpus(last(history.cpu))} />
          <Gauge label="Memory" used={last(history.memoryBytes)} whole={history.memoryTotalBytes} text={bytes(last(history.memoryBytes))} />
          <Gauge label="Disk" used={last(history.diskBytes)} whole={history.diskTotalBytes} text={bytes(last(history.diskBytes))} />
          <div class="card" data-gauge="load">
            <div class="muted">Load</div>
            <div class="figure">{last(history.load1)?.toFixed(2) ?? '–'}</div>
            <div class="muted">over 1 minute, {history.cpus} CPUs</div>
          </div>
        </div>
      )}
      <h2>Guests</h2>
      {guests && (
        <table class="counts" aria-label="Guests by state and kind">
          <thead>
            <tr><th>Kind</th>{guestStates.map((s) => <th key={s}>{s}</th>)}<th>all</th></tr>
          </thead>
          <tbody>
            {[...guestKinds, undefined].map((k) => (
              <tr key={k ?? 'all'}>
                <th>{k ?? 'all'}</th>
                {[...guestStates, undefined].map((s) => (
                  <td key={s ?? 'all'} data-count={`${k ?? 'all'}/${s ?? 'all'}`}>{count(k, s)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Using the most</h2>
      <div class="cards">
        {guestFigures.map((r) => {
          const top = (history?.guests ?? []).filter((g) => g[r.id] !== null).sort((a, b) => b[r.id]! - a[r.id]!).slice(0, 5);
          return (
            <div class="card" key={r.id} data-top={r.id}>
              <div class="muted">{r.title}</div>
              {top.length === 0 ? <p>–</p> : (
                <ol class="top">{top.map((g) => <li key={g.name}><a href={`#/guests/${encodeURIComponent(g.name)}`}>{g.name}</a> {r.format(g[r.id])}</li>)}</ol>
              )}
            </div>
          );
        })}
      </div>
      <h2>Recent operations <a class="muted" href="#/operations">all</a></h2>
      <OperationsTable limit={5} />
    </section>
  );
}
