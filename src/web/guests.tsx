/**
 * @module The guests list, live: it follows lodged's events and reads the list again when
 * something happened (at most a few times a second), so states change without a reload.
 * A filter box narrows it (kind:ct state:running image:... network:... or words of a name).
 * Each running guest's CPU, memory, disk and network figures come from lodged's history at
 * each of its samples; a click on a figure's heading puts the guests that use most of it first.
 * Guests chosen with their boxes are started, stopped, restarted or deleted together; each refusal is shown
 * with the guest it concerns, and so is an operation that fails later (a launch from the
 * wizard, a start the engine refused), as its event says.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { GuestAction, Guest } from '../api/guests.js';
import type { Event as LodgeEvent, Operation } from '../api/operations.js';
import type { GuestNow } from '../api/history.js';
import { type ApiError, call, followEvents } from './api.js';
import { guestFigures } from './format.js';
import { passes } from './guest-filter.js';
import { useHostHistory } from './live.js';

type Figure = (typeof guestFigures)[number]['id'];

/** The fewest milliseconds between two reads of the list, however many events come. */
const refreshGapMs = 250;

export function GuestsPage() {
  const [guests, setGuests] = useState<Guest[] | undefined>(undefined);
  const [chosen, setChosen] = useState<ReadonlySet<string>>(new Set());
  const [errors, setErrors] = useState<string[]>([]);
  const [filter, setFilter] = useState('');
  const [sortBy, setSortBy] = useState<Figure | undefined>(undefined);
  const history = useHostHistory((message) => setErrors([message]));
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(() => {
    const stop = new AbortController();
    const load = () =>
      call<Guest[]>('GET', '/1.0/guests').then(
        (list) => !stop.signal.aborted && setGuests(list),
        (e: ApiError) => setErrors([e.message]),
      );
    const soon = () => {
      pending.current ??= setTimeout(() => {
        pending.current = undefined;
        void load();
      }, refreshGapMs);
    };
    const onEvent = (e: LodgeEvent) => {
      const error = e.type === 'operation' && e.detail?.status === 'failure' ? (e.detail.error as { message?: string } | undefined) : undefined;
      if (error) setErrors((shown) => [...shown, `${e.action} ${e.target} failed: ${error.message ?? 'no reason given'}`]);
      soon();
    };
    // at once, not only when the events stream opens: a stream that waits for a connection left the list 'Loading'
    void load();
    void followEvents(onEvent, soon, stop.signal);
    return () => {
      stop.abort();
      clearTimeout(pending.current);
    };
  }, []);

  const toggle = (name: string) => {
    const next = new Set(chosen);
    if (!next.delete(name)) next.add(name);
    setChosen(next);
  };
  const act = async (action: GuestAction | 'delete') => {
    // only what the filter shows: a chosen guest it hides is left alone
    const names = (guests ?? []).filter((g) => chosen.has(g.name) && passes(g, filter)).map((g) => g.name);
    if (action === 'delete' && !confirm(`Delete ${names.join(', ')}? Their disks go with them.`)) return;
    const failed = await Promise.all(
      names.map((name) =>
        (action === 'delete' ? call<Operation>('DELETE', `/1.0/guests/${encodeURIComponent(name)}`) : call<Operation>('PUT', `/1.0/guests/${encodeURIComponent(name)}/state`, { action })).then(
          () => undefined,
          (e: ApiError) => `${action} ${name}: ${e.message} (${e.status})`,
        ),
      ),
    );
    setErrors(failed.filter((f): f is string => f !== undefined));
  };

  if (!guests) return <p aria-busy="true">Loading guests…</p>;
  const now = new Map<string, GuestNow>((history?.guests ?? []).map((g) => [g.name, g]));
  const figure = (name: string, id: Figure) => now.get(name)?.[id] ?? null;
  const shown = guests.filter((g) => passes(g, filter));
  if (sortBy) shown.sort((a, b) => (figure(b.name, sortBy) ?? -1) - (figure(a.name, sortBy) ?? -1));
  const all = shown.length > 0 && shown.every((g) => chosen.has(g.name));
  return (
    <section aria-label="Guests">
      <div class="toolbar">
        <h1>Guests</h1>
        <button type="button" disabled={chosen.size === 0} onClick={() => act('start')}>Start</button>
        <button type="button" disabled={chosen.size === 0} onClick={() => act('stop')}>Stop</button>
        <button type="button" disabled={chosen.size === 0} onClick={() => act('restart')}>Restart</button>
        <button type="button" disabled={chosen.size === 0} onClick={() => act('delete')}>Delete</button>
        <a class="button" href="#/new">New guest</a>
      </div>
      {errors.map((e) => (
        <p class="error" role="alert" key={e}>{e}</p>
      ))}
      <input type="search" class="filter" data-filter aria-label="Filter guests" placeholder="Filter (press /): kind:ct state:running image:busybox network:default or a name" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
      {guests.length === 0 ? (
        <p>No guests yet. <a href="#/new">Create one.</a></p>
      ) : (
        <table>
          <thead>
            <tr>
              <th><input type="checkbox" aria-label="Choose all" checked={all} onChange={() => setChosen(all ? new Set() : new Set(shown.map((g) => g.name)))} /></th>
              <th>Name</th>
              <th>Kind</th>
              <th>State</th>
              <th>Image</th>
              <th>Addresses</th>
              {guestFigures.map((f) => (
                <th key={f.id} class="figure-column" aria-sort={sortBy === f.id ? 'descending' : undefined}>
                  <button type="button" class="link" title={`Most ${f.title.toLowerCase()} first`} onClick={() => setSortBy(sortBy === f.id ? undefined : f.id)}>{f.title}</button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {shown.map((g) => (
              <tr key={g.name} data-guest={g.name}>
                <td><input type="checkbox" aria-label={`Choose ${g.name}`} checked={chosen.has(g.name)} onChange={() => toggle(g.name)} /></td>
                <td><a href={`#/guests/${encodeURIComponent(g.name)}`}>{g.name}</a></td>
                <td>{g.kind}</td>
                <td><span class={`state state-${g.state}`} title={g.stateReason}>{g.state}</span></td>
                <td>{g.image}</td>
                <td>{(g.nics ?? []).map((n) => n.address.split('/')[0]).join(', ')}</td>
                {guestFigures.map((f) => (
                  <td key={f.id} class="figure-column" data-figure={f.id}>{f.format(figure(g.name, f.id))}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
