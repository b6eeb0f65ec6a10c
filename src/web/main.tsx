/**
 * @module The web console's entry: the page is one document, its pages chosen by the
 * address's fragment (#/dashboard, #/guests, #/guests/NAME, #/new, #/images, ...), so that
 * lodged serves one file for all of them and a reload keeps the page; a console popped out
 * (#/guests/NAME/screen) is the same document showing that console alone. Who is logged in
 * is asked of lodged at load.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiDocPage } from './api-doc.js';
import { ApiError, call, sessionEnded } from './api.js';
import { CreatePage } from './create.js';
import { DashboardPage } from './dashboard.js';
import { EventsPage } from './events.js';
import { type ConsoleKind, ConsoleWindow, consoleKinds } from './guest-console.js';
import { GuestPage } from './guest.js';
import { GuestsPage } from './guests.js';
import { ImagesPage } from './images.js';
import { LoginPage } from './login.js';
import { NetworksPage } from './networks.js';
import { OperationsPage } from './operations.js';
import { Shortcuts } from './shortcuts.js';

const pages = {
  dashboard: { title: 'Dashboard', view: () => <DashboardPage /> },
  guests: { title: 'Guests', view: () => <GuestsPage /> },
  new: { title: 'New guest', view: () => <CreatePage /> },
  images: { title: 'Images', view: () => <ImagesPage /> },
  networks: { title: 'Networks', view: () => <NetworksPage /> },
  operations: { title: 'Operations', view: () => <OperationsPage /> },
  events: { title: 'Events', view: () => <EventsPage /> },
  api: { title: 'API', view: () => <ApiDocPage /> },
} as const;
type Page = keyof typeof pages;
type Route = { page: Page } | { page: 'guest'; name: string } | { page: 'console'; name: string; kind: ConsoleKind };

function route(hash: string): Route {
  const m = /^#\/guests\/([^/]+)(?:\/([a-z]+))?$/.exec(hash);
  if (m && m[2] === undefined) return { page: 'guest', name: decodeURIComponent(m[1]!) };
  if (m && Object.hasOwn(consoleKinds, m[2]!)) return { page: 'console', name: decodeURIComponent(m[1]!), kind: m[2] as ConsoleKind };
  const page = hash.slice(2);
  return page in pages ? { page: page as Page } : { page: 'dashboard' };
}

function App() {
  const [here, setHere] = useState(route(location.hash));
  const [session, setSession] = useState<'unknown' | 'in' | 'out'>('unknown');
  useEffect(() => {
    const onHash = () => setHere(route(location.hash));
    const onEnded = () => setSession('out');
    addEventListener('hashchange', onHash);
    addEventListener(sessionEnded, onEnded);
    call('GET', '/1.0').then(
      () => setSession('in'),
      (e: ApiError) => setSession(e.code === 'UNAUTHENTICATED' ? 'out' : 'in'),
    );
    return () => {
      removeEventListener('hashchange', onHash);
      removeEventListener(sessionEnded, onEnded);
    };
  }, []);
  if (session === 'unknown') return null;
  if (session === 'out') return <LoginPage onLogin={() => setSession('in')} />;
  const logout = async () => {
    await call('POST', '/1.0/logout').catch(() => {});
    setSession('out');
  };
  if (here.page === 'console') return <ConsoleWindow key={`${here.name}/${here.kind}`} name={here.name} kind={here.kind} />;
  const current = here.page === 'guest' ? 'guests' : here.page;
  return (
    <>
      <header>
        <strong>Lodge</strong>
        <nav>
          {(Object.keys(pages) as Page[]).map((p) => (
            <a key={p} href={`#/${p}`} aria-current={current === p ? 'page' : undefined}>{pages[p].title}</a>
          ))}
        </nav>
        <button type="button" class="link" title="Keyboard shortcuts: press ?" onClick={() => dispatchEvent(new KeyboardEvent('keydown', { key: '?' }))}>?</button>
        <button type="button" class="link" onClick={logout}>Log out</button>
      </header>
      <main>{here.page === 'guest' ? <GuestPage key={here.name} name={here.name} /> : pages[here.page].view()}</main>
      <Shortcuts />
    </>
  );
}

render(<App />, document.getElementById('app')!);
