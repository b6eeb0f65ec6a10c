/**
 * @module A guest's consoles: the serial console, a shell (exec -t) and the VGA screen, in
 * the guest page's tabs or popped out into a window of their own (#/guests/NAME/console,
 * /shell, /screen: the same page without the rest, so the session cookie goes with it). The
 * code of the terminal (xterm.js) and the screen (noVNC) is loaded only when one opens. A
 * console of a guest that is not running says so and offers to start it.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { Guest } from '../api/guests.js';
import type { Operation } from '../api/operations.js';
import { type ApiError, call, followEvents, waitFor } from './api.js';
import { combinations } from './keys.js';
import type { Screen } from './screen.js';

export type ConsoleKind = 'console' | 'shell' | 'screen';

export const consoleKinds: Record<ConsoleKind, string> = { console: 'serial console', shell: 'shell', screen: 'screen' };

export const guestPath = (name: string) => `/1.0/guests/${encodeURIComponent(name)}`;

/** The guest as lodged has it, read again whenever its lifecycle changes (started, stopped, ended on its own). */
export function useGuest(name: string) {
  const [guest, setGuest] = useState<Guest | undefined>(undefined);
  const [error, setError] = useState('');
  const load = useCallback(() => call<Guest>('GET', guestPath(name)).then(setGuest, (e: ApiError) => setError(e.message)), [name]);
  useEffect(() => {
    const stop = new AbortController();
    void load();
    void followEvents((e) => e.type === 'lifecycle' && e.target === name && void load(), () => void load(), stop.signal);
    return () => stop.abort();
  }, [load]);
  return { guest, setGuest, error, load };
}

/** One of the guest's consoles; `popped` when it fills a window of its own. */
export function GuestConsole({ guest, kind, onChanged, popped = false }: { guest: Guest; kind: ConsoleKind; onChanged: () => unknown; popped?: boolean }) {
  if (guest.state !== 'running' && guest.state !== 'paused') return <Unavailable guest={guest} what={consoleKinds[kind]} onStarted={onChanged} />;
  const popOut = popped ? undefined : () => window.open(`#/guests/${encodeURIComponent(guest.name)}/${kind}`, `lodge-${guest.name}-${kind}`, 'popup,width=1040,height=800');
  return kind === 'screen' ? <VgaScreen name={guest.name} onClosed={onChanged} popOut={popOut} /> : <SerialConsole name={guest.name} shell={kind === 'shell'} popOut={popOut} />;
}

/** A console alone in its window, opened by a Pop out button. */
export function ConsoleWindow({ name, kind }: { name: string; kind: ConsoleKind }) {
  const { guest, error, load } = useGuest(name);
  useEffect(() => {
    document.title = `${name}: ${consoleKinds[kind]} · Lodge`;
  }, [name, kind]);
  if (error) return <p class="error" role="alert">{error}</p>;
  if (!guest) return <p aria-busy="true">Loading {name}…</p>;
  return (
    <section class="popout" aria-label={`${name}'s ${consoleKinds[kind]}`}>
      <GuestConsole guest={guest} kind={kind} onChanged={load} popped />
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
      const done = await waitFor(await call<Operation>('PUT', `${guestPath(guest.name)}/state`, { action: 'start' }));
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

/** Full screen and pop out, which every console has. */
function WindowButtons({ box, popOut }: { box: { current: HTMLElement | null }; popOut: (() => unknown) | undefined }) {
  return (
    <>
      <button type="button" onClick={() => void box.current?.requestFullscreen()}>Full screen</button>
      {popOut && <button type="button" onClick={popOut}>Pop out</button>}
    </>
  );
}

/** The serial console, or (`shell`) a shell run in the guest on a terminal, as exec -t runs it. */
function SerialConsole({ name, shell, popOut }: { name: string; shell: boolean; popOut: (() => unknown) | undefined }) {
  const box = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState('connecting…');
  useEffect(() => {
    let close: (() => void) | undefined;
    let gone = false;
    import('./terminal.js').then(
      ({ openConsole }) => {
        if (!gone) close = shell ? openConsole(box.current!, `${guestPath(name)}/exec?stdio=pty&command=sh`, setStatus, true) : openConsole(box.current!, `${guestPath(name)}/console`, setStatus);
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
      <div class="toolbar">
        <p class="console-status" role="status">{shell ? 'Shell' : 'Serial console'}: {status}</p>
        <WindowButtons box={box} popOut={popOut} />
      </div>
      <div class="terminal" ref={box} />
    </div>
  );
}

/**
 * The VGA screen, scaled to fit unless asked, with what a keyboard cannot send from here:
 * Ctrl-Alt-Del and other combinations, and text typed as key presses.
 */
function VgaScreen({ name, onClosed, popOut }: { name: string; onClosed: () => unknown; popOut: (() => unknown) | undefined }) {
  const box = useRef<HTMLDivElement>(null);
  const screen = useRef<Screen | undefined>(undefined);
  const [status, setStatus] = useState('connecting…');
  const [text, setText] = useState('');
  const [typeError, setTypeError] = useState('');
  const [fit, setFit] = useState(true);
  useEffect(() => {
    let gone = false;
    import('./screen.js').then(
      ({ openScreen }) => {
        if (!gone) screen.current = openScreen(box.current!, `${guestPath(name)}/vga`, setStatus, () => !gone && onClosed());
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
  const send = (label: string) => {
    const combination = combinations.find((c) => c.label === label);
    if (combination) screen.current?.press(combination.keys);
  };
  const connected = status === 'connected';
  return (
    <div class="console">
      <div class="toolbar">
        <p class="console-status" role="status">Screen: {status}</p>
        <button type="button" disabled={!connected} onClick={() => screen.current?.ctrlAltDel()}>Ctrl-Alt-Del</button>
        <select aria-label="Send keys" disabled={!connected} value="" onChange={(e) => (send(e.currentTarget.value), (e.currentTarget.value = ''))}>
          <option value="">Send keys…</option>
          {combinations.map((c) => (
            <option key={c.label} value={c.label}>{c.label}</option>
          ))}
        </select>
        <label class="check">
          <input type="checkbox" checked={fit} onChange={(e) => (setFit(e.currentTarget.checked), screen.current?.scaleToFit(e.currentTarget.checked))} /> Scale to fit
        </label>
        <WindowButtons box={box} popOut={popOut} />
      </div>
      <form class="toolbar" onSubmit={(e) => (e.preventDefault(), type(true))}>
        <input aria-label="Text to type" placeholder="Text to type into the guest" value={text} aria-invalid={typeError ? 'true' : undefined} aria-describedby="type-error" onInput={(e) => setText(e.currentTarget.value)} />
        <button type="button" disabled={!connected} onClick={() => type(false)}>Type</button>
        <button type="submit" disabled={!connected}>Type + Enter</button>
      </form>
      <p class="field-error" id="type-error">{typeError}</p>
      <div class="screen" ref={box} />
    </div>
  );
}
