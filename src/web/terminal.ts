/**
 * @module The serial console in xterm.js over lodged's console WebSocket (binary frames both
 * ways; the session cookie and this page's origin go with the upgrade). Its own chunk, with
 * its stylesheet, loaded only when a console opens.
 */
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import { addStylesheet } from './stylesheet.js';

/** Opens the console at `path` in `box`; answers what closes it. */
export function openConsole(box: HTMLElement, path: string, onStatus: (status: string) => void): () => void {
  addStylesheet('xterm', '/assets/xterm.css');
  const dark = matchMedia('(prefers-color-scheme: dark)').matches;
  const term = new Terminal({
    convertEol: false,
    cursorBlink: true,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace',
    fontSize: 14,
    theme: dark ? { background: '#101418', foreground: '#d8dee4' } : { background: '#ffffff', foreground: '#1b1f24', cursor: '#1b1f24', selectionBackground: '#b6d4fe' },
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();
  const onResize = () => fit.fit();
  addEventListener('resize', onResize);

  const ws = new WebSocket(`wss://${location.host}${path}`);
  ws.binaryType = 'arraybuffer';
  const encoder = new TextEncoder();
  ws.onopen = () => {
    onStatus('connected');
    term.focus();
  };
  ws.onmessage = (m: MessageEvent<ArrayBuffer | string>) => term.write(typeof m.data === 'string' ? m.data : new Uint8Array(m.data));
  ws.onclose = (e) => onStatus(`closed${e.reason ? `: ${e.reason}` : e.code === 1006 ? ' (refused, or the connection dropped)' : ''}`);
  const typed = term.onData((data) => ws.readyState === WebSocket.OPEN && ws.send(encoder.encode(data)));
  return () => {
    removeEventListener('resize', onResize);
    typed.dispose();
    ws.close();
    term.dispose();
  };
}
