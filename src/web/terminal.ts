/**
 * @module The serial console, or a shell through exec -t, in xterm.js over lodged's WebSocket
 * (binary frames both ways; the session cookie and this page's origin go with the upgrade).
 * An exec also takes the terminal's size ({"resize":[cols,rows]} frames) and ends with a text
 * frame of its exit code or its error. Its own chunk, with its stylesheet, loaded only when a
 * console opens.
 */
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import { addStylesheet } from './stylesheet.js';

/** Opens the console at `path` in `box` (`exec`: an exec -t, whose size and end are told); answers what closes it. */
export function openConsole(box: HTMLElement, path: string, onStatus: (status: string) => void, exec = false): () => void {
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

  const size = exec ? `&cols=${term.cols}&rows=${term.rows}` : '';
  const ws = new WebSocket(`wss://${location.host}${path}${size}`);
  ws.binaryType = 'arraybuffer';
  const encoder = new TextEncoder();
  ws.onopen = () => {
    onStatus('connected');
    term.focus();
  };
  let ended = '';
  ws.onmessage = (m: MessageEvent<ArrayBuffer | string>) => {
    if (typeof m.data !== 'string') return term.write(new Uint8Array(m.data));
    if (!exec) return term.write(m.data);
    const said = JSON.parse(m.data) as { exit?: number; error?: { message?: string } };
    ended = said.exit !== undefined ? `the shell exited with ${said.exit}` : `failed: ${said.error?.message ?? m.data}`;
  };
  const resized = term.onResize(({ cols, rows }) => exec && ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ resize: [cols, rows] })));
  ws.onclose = (e) => onStatus(ended ? `closed: ${ended}` : `closed${e.reason ? `: ${e.reason}` : e.code === 1006 ? ' (refused, or the connection dropped)' : ''}`);
  const typed = term.onData((data) => ws.readyState === WebSocket.OPEN && ws.send(encoder.encode(data)));
  return () => {
    removeEventListener('resize', onResize);
    typed.dispose();
    resized.dispose();
    ws.close();
    term.dispose();
  };
}
