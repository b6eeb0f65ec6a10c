/**
 * @module A guest's page: what it is, then tabs: its graphs of the last hour, its limits
 * (changed live), its NICs and port forwards, its operations, and its consoles: the serial
 * console, a shell (exec -t) and the VGA screen where its kind has them (the driver's
 * interactiveExec and vga features, as GET /1.0 says). The code of graphs (uPlot), terminal (xterm.js) and screen (noVNC) is loaded only
 * when its tab opens, so the list and the login stay small. The page follows lodged's events
 * for the guest; a console of one that is not running says so and offers to start it.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { Guest } from '../api/guests.js';
import type { HostInfo } from '../api/host.js';
import type { Operation } from '../api/operations.js';
import { type ApiError, call, followEvents, waitFor } from './api.js';
import { GuestGraphs } from './guest-graphs.js';
import { GuestLimits } from './guest-limits.js';
import { GuestNetwork } from './guest-network.js';
import { OperationsTable } from './operations.js';
import type { Screen } from './screen.js';

type Tab = 'graphs' | 'limits' | 'network' | 'operations' | 'console' | 'shell' | 'screen';

const at = (name: string) => `/1.0/guests/${encodeURIComponent(name)}`;
const showing = (g: Guest) => g.state === 'running' || g.state === 'paused';

export function GuestPage({ name }: { name: string }) {
  const [guest, setGuest] = useState<Guest | undefined>(undefined);
  const [features, setFeatures] = useState<string[]>([]);
  const [error, setError] = useState('');
  const [tab, setTab] = useState<Tab>('graphs');
  const load = useCallback(() => call<Guest>('GET', at(name)).then(setGuest, (e: ApiError) => setError(e.message)), [name]);
  // read again when lodged says the guest changed (started, stopped, ended on its own)
  useEffect(() => {
    const stop = new AbortController();
    void load();
    void followEvents((e) => e.type === 'lifecycle' && e.target === name && void load(), () => void load(), stop.signal);
    return () => stop.abort();
  }, [load]);
  useEffect(() => {
    if (!guest) return;
    call<HostInfo>('GET', '/1.0').then((host) => setFeatures(host.drivers.find((d) => d.kind === guest.kind)?.features ?? []), () => setFeatures([]));
  }, [guest?.kind]);
  if (error) return <p class="error" role="alert">{error}</p>;
  if (!guest) return <p aria-busy="true">Loading {name}…</p>;
  const tabs: Array<[Tab, string]> = [
    ['graphs', 'Graphs'],
    ['limits', 'Limits'],
    ['network', 'Network'],
    ['operations', 'Operations'],
    ['console', 'Console'],
    ...(features.includes('interactiveExec') ? [['shell', 'Shell'] as [Tab, string]] : []),
    ...(features.includes('vga') ? [['screen', 'Screen'] as [Tab, string]] : []),
  ];
  const consoleTab = tab === 'console' || tab === 'shell' || tab === 'screen';
  return (
    <section aria-label={`Guest ${name}`}>
      <h1>{guest.name}</h1>
      <dl class="summary">
        <dt>Kind</dt><dd>{guest.kind}</dd>
        <dt>State</dt><dd><span class={`state state-${guest.state}`}>{guest.state}</span>{guest.stateReason ? ` (${guest.stateReason})` : ''}</dd>
        <dt>Image</dt><dd>{guest.image}</dd>
        <dt>Limits</dt><dd>memory {guest.limits.memory ?? 'none'}, CPU {guest.limits.cpu ?? 'none'}</dd>
        <dt>Addresses</dt><dd>{(guest.nics ?? []).map((n) => `${n.name} ${n.address} (${n.network})`).join(', ') || 'none'}</dd>
      </dl>
      <div class="tabs" role="tablist" aria-label="About the guest">
        {tabs.map(([id, label]) => (
          <button type="button" role="tab" id={`tab-${id}`} key={id} aria-selected={tab === id} aria-controls="guest-panel" onClick={() => setTab(id)}>{label}</button>
        ))}
      </div>
      <div role="tabpanel" id="guest-panel" aria-labelledby={`tab-${tab}`}>
        {tab === 'graphs' && <GuestGraphs name={name} />}
        {tab === 'limits' && <GuestLimits guest={guest} onChanged={setGuest} />}
        {tab === 'network' && <GuestNetwork guest={guest} />}
        {tab === 'operations' && <OperationsTable keep={(o) => o.target === name || o.target.startsWith(`${name}/`)} />}
        {consoleTab &&
          (!showing(guest) ? (
            <Unavailable guest={guest} what={tab === 'console' ? 'serial console' : tab === 'shell' ? 'shell' : 'screen'} onStarted={load} />
          ) : tab === 'console' ? (
            <SerialConsole name={name} />
          ) : tab === 'shell' ? (
            <SerialConsole name={name} shell />
          ) : (
            <VgaScreen name={name} onClosed={load} />
          ))}
      </div>
    </section>
  );
}

/** Why a console cannot open (its guest is not running), and a way to start it. */
function Unavailable({ guest, what, onStarted }: { guest: Guest; what: string; onStarted: () => unknown }) {
  const [starting, setStarting] = useState(false);
  const [error, setError] = useState('');
  const start = async () => {
    setStarting(true);
    setError('');
    try {
      const done = await waitFor(await call<Operation>('PUT', `${at(guest.name)}/state`, { action: 'start' }));
      if (done.status !== 'success') setError(`start ${guest.name}: ${done.error?.message ?? done.status}`);
    } catch (e) {
      setError(`start ${guest.name}: ${(e as ApiError).message}`);
    }
    setStarting(false);
    onStarted();
  };
  return (
    <div class="unavailable">
      <p>The {what} is unavailable: {guest.name} is {guest.state === 'error' ? 'in error' : guest.state}.</p>
      <button type="button" disabled={starting || guest.state === 'creating'} onClick={start}>{starting ? `Starting ${guest.name}…` : `Start ${guest.name}`}</button>
      {error && <p class="error" role="alert">{error}</p>}
    </div>
  );
}

/** The serial console, or (`shell`) a shell run in the guest on a terminal, as exec -t runs it. */
function SerialConsole({ name, shell = false }: { name: string; shell?: boolean }) {
  const box = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState('connecting…');
  useEffect(() => {
    let close: (() => void) | undefined;
    let gone = false;
    import('./terminal.js').then(
      ({ openConsole }) => {
        if (!gone) close = shell ? openConsole(box.current!, `${at(name)}/exec?stdio=pty&command=sh`, setStatus, true) : openConsole(box.current!, `${at(name)}/console`, setStatus);
      },
      (e: Error) => setStatus(`the terminal failed to load: ${e.message}`),
    );
    return () => {
      gone = true;
      close?.();
    };
  }, [name, shell]);
  return (
    <div class="console">
      <p class="console-status" role="status">{shell ? 'Shell' : 'Serial console'}: {status}</p>
      <div class="terminal" ref={box} />
    </div>
  );
}

/** The VGA screen, scaled to fit, with what a keyboard cannot send from here: Ctrl-Alt-Del, and text typed as key presses. */
function VgaScreen({ name, onClosed }: { name: string; onClosed: () => unknown }) {
  const box = useRef<HTMLDivElement>(null);
  const screen = useRef<Screen | undefined>(undefined);
  const [status, setStatus] = useState('connecting…');
  const [text, setText] = useState('');
  const [typeError, setTypeError] = useState('');
  useEffect(() => {
    let gone = false;
    import('./screen.js').then(
      ({ openScreen }) => {
        if (!gone) screen.current = openScreen(box.current!, `${at(name)}/vga`, setStatus, () => !gone && onClosed());
      },
      (e: Error) => setStatus(`the screen failed to load: ${e.message}`),
    );
    return () => {
      gone = true;
      screen.current?.close();
    };
  }, [name]);
  const type = (enter: boolean) => {
    try {
      screen.current?.type(enter ? `${text}\n` : text);
      setText('');
      setTypeError('');
    } catch (e) {
      setTypeError((e as Error).message);
    }
  };
  const connected = status === 'connected';
  return (
    <div class="console">
      <p class="console-status" role="status">Screen: {status}</p>
      <form class="toolbar" onSubmit={(e) => (e.preventDefault(), type(true))}>
        <button type="button" disabled={!connected} onClick={() => screen.current?.ctrlAltDel()}>Ctrl-Alt-Del</button>
        <button type="button" onClick={() => void box.current?.requestFullscreen()}>Full screen</button>
        <input aria-label="Text to type" placeholder="Text to type into the guest" value={text} aria-invalid={typeError ? 'true' : undefined} aria-describedby="type-error" onInput={(e) => setText(e.currentTarget.value)} />
        <button type="button" disabled={!connected} onClick={() => type(false)}>Type</button>
        <button type="submit" disabled={!connected}>Type + Enter</button>
      </form>
      <p class="field-error" id="type-error">{typeError}</p>
      <div class="screen" ref={box} />
    </div>
  );
}
