/**
 * @module A guest's page: what it is, and its serial console. The terminal's code (xterm.js)
 * is loaded only when the console opens, so the list and the login stay small.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Guest } from '../api/guests.js';
import { type ApiError, call } from './api.js';

export function GuestPage({ name }: { name: string }) {
  const [guest, setGuest] = useState<Guest | undefined>(undefined);
  const [error, setError] = useState('');
  const [consoleOpen, setConsoleOpen] = useState(false);
  useEffect(() => {
    call<Guest>('GET', `/1.0/guests/${encodeURIComponent(name)}`).then(setGuest, (e: ApiError) => setError(e.message));
  }, [name]);
  if (error) return <p class="error" role="alert">{error}</p>;
  if (!guest) return <p aria-busy="true">Loading {name}…</p>;
  return (
    <section aria-label={`Guest ${name}`}>
      <h1>{guest.name}</h1>
      <dl class="summary">
        <dt>Kind</dt><dd>{guest.kind}</dd>
        <dt>State</dt><dd><span class={`state state-${guest.state}`}>{guest.state}</span>{guest.stateReason ? ` (${guest.stateReason})` : ''}</dd>
        <dt>Image</dt><dd>{guest.image}</dd>
        <dt>Memory</dt><dd>{guest.limits.memory ?? 'no limit'}</dd>
        <dt>Addresses</dt><dd>{(guest.nics ?? []).map((n) => `${n.name} ${n.address} (${n.network})`).join(', ') || 'none'}</dd>
      </dl>
      {consoleOpen ? <SerialConsole name={name} /> : <button type="button" onClick={() => setConsoleOpen(true)}>Open the console</button>}
    </section>
  );
}

function SerialConsole({ name }: { name: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState('connecting…');
  useEffect(() => {
    let close: (() => void) | undefined;
    let gone = false;
    import('./terminal.js').then(
      ({ openConsole }) => {
        if (!gone) close = openConsole(box.current!, `/1.0/guests/${encodeURIComponent(name)}/console`, setStatus);
      },
      (e: Error) => setStatus(`the terminal failed to load: ${e.message}`),
    );
    return () => {
      gone = true;
      close?.();
    };
  }, [name]);
  return (
    <div class="console">
      <p class="console-status" role="status">Serial console: {status}</p>
      <div class="terminal" ref={box} />
    </div>
  );
}
