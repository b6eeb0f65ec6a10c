/**
 * @module The web console's entry: the page is one document, its pages chosen by the
 * address's fragment (#/guests, #/guests/NAME, #/new), so that lodged serves one file
 * for all of them and a reload keeps the page. Who is logged in is asked of lodged at load.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, call, sessionEnded } from './api.js';
import { CreatePage } from './create.js';
import { GuestPage } from './guest.js';
import { GuestsPage } from './guests.js';
import { LoginPage } from './login.js';

type Route = { page: 'guests' } | { page: 'guest'; name: string } | { page: 'new' };

function route(hash: string): Route {
  const m = /^#\/guests\/([^/]+)$/.exec(hash);
  if (m) return { page: 'guest', name: decodeURIComponent(m[1]!) };
  return hash === '#/new' ? { page: 'new' } : { page: 'guests' };
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
  return (
    <>
      <header>
        <strong>Lodge</strong>
        <nav>
          <a href="#/guests" aria-current={here.page === 'guests' ? 'page' : undefined}>Guests</a>
          <a href="#/new" aria-current={here.page === 'new' ? 'page' : undefined}>New guest</a>
        </nav>
        <button type="button" class="link" onClick={logout}>Log out</button>
      </header>
      <main>
        {here.page === 'guests' && <GuestsPage />}
        {here.page === 'guest' && <GuestPage key={here.name} name={here.name} />}
        {here.page === 'new' && <CreatePage />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
