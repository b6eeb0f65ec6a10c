/**
 * @module Keyboard shortcuts: `/` focuses the page's filter, `g` then a letter goes to a page,
 * `c` opens the create wizard, `?` shows them all; Escape closes that list. Keys typed into a
 * field are the field's, never a shortcut.
 */
import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';

/** `g` then one of these: where it goes. */
export const goTo: Record<string, { hash: string; page: string }> = {
  d: { hash: '#/dashboard', page: 'Dashboard' },
  g: { hash: '#/guests', page: 'Guests' },
  i: { hash: '#/images', page: 'Images' },
  n: { hash: '#/networks', page: 'Networks' },
  o: { hash: '#/operations', page: 'Operations' },
  e: { hash: '#/events', page: 'Events' },
  a: { hash: '#/api', page: 'API' },
};

/** How long after `g` the second key may come. */
const chordMs = 1500;

const typing = (t: EventTarget | null) => t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName) || t.closest('.terminal, .screen') !== null);

export function Shortcuts() {
  const [help, setHelp] = useState(false);
  useEffect(() => {
    let g = 0;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') return setHelp(false);
      if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
      const chord = performance.now() - g < chordMs;
      g = 0;
      if (chord && goTo[e.key]) location.hash = goTo[e.key]!.hash;
      else if (e.key === 'g') g = performance.now();
      else if (e.key === 'c') location.hash = '#/new';
      else if (e.key === '?') setHelp((shown) => !shown);
      else if (e.key === '/') {
        const filter = document.querySelector<HTMLInputElement>('[data-filter]');
        if (!filter) return;
        filter.focus();
      } else return;
      e.preventDefault();
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);
  if (!help) return null;
  return (
    <div class="overlay" role="dialog" aria-label="Keyboard shortcuts" onClick={() => setHelp(false)}>
      <div class="overlay-box" onClick={(e) => e.stopPropagation()}>
        <h2>Keyboard shortcuts</h2>
        <dl class="summary">
          <dt><kbd>/</kbd></dt><dd>focus the filter</dd>
          <dt><kbd>c</kbd></dt><dd>create a guest</dd>
          {Object.entries(goTo).map(([k, { page }]) => <Fragment key={k}><dt><kbd>g</kbd> <kbd>{k}</kbd></dt><dd>{page}</dd></Fragment>)}
          <dt><kbd>?</kbd></dt><dd>this list</dd>
          <dt><kbd>Esc</kbd></dt><dd>close it</dd>
        </dl>
      </div>
    </div>
  );
}
