/**
 * @module A vm guest's VGA screen in noVNC, over lodged's /vga WebSocket (which bridges to the
 * guest's own VNC socket: the session cookie and this page's origin go with the upgrade). Its
 * own chunk, loaded only when the Screen tab opens. noVNC draws on a canvas and takes no
 * inline script or stylesheet, so the page's CSP stays as it is.
 */
import RFB from '@novnc/novnc';
import { type Key, keysyms, strokes } from './keys.js';

export interface Screen {
  ctrlAltDel(): void;
  /** Holds `keys` down in order, then lets them go in the other. */
  press(keys: readonly Key[]): void;
  /** Scales the screen to fit its box (as it opens), or shows it at the guest's own size, scrolled. */
  scaleToFit(fit: boolean): void;
  /** Types `text` as key presses; throws, typing nothing, when a character has no key. */
  type(text: string): void;
  close(): void;
}

/** Opens the screen at `path` in `box`, scaled to fit it; `onStatus` hears each change, `onClosed` the end. */
export function openScreen(box: HTMLElement, path: string, onStatus: (status: string) => void, onClosed: () => void): Screen {
  const rfb = new RFB(box, `wss://${location.host}${path}`, { shared: true });
  rfb.scaleViewport = true;
  rfb.background = 'transparent';
  let open = true;
  rfb.addEventListener('connect', () => {
    onStatus('connected');
    rfb.focus();
  });
  rfb.addEventListener('securityfailure', (e) => onStatus(`refused: ${(e as CustomEvent<{ reason?: string }>).detail.reason ?? 'no reason given'}`));
  rfb.addEventListener('disconnect', (e) => {
    open = false;
    onStatus((e as CustomEvent<{ clean: boolean }>).detail.clean ? 'closed' : 'closed (refused, or the connection dropped)');
    onClosed();
  });
  return {
    ctrlAltDel: () => rfb.sendCtrlAltDel(),
    press(keys) {
      for (const [keysym, code] of keys) rfb.sendKey(keysym, code, true);
      for (const [keysym, code] of [...keys].reverse()) rfb.sendKey(keysym, code, false);
      rfb.focus();
    },
    scaleToFit(fit) {
      rfb.scaleViewport = fit;
      rfb.focus();
    },
    type(text) {
      for (const { keysym, code, shift } of strokes(text)) {
        if (shift) rfb.sendKey(keysyms.shift, 'ShiftLeft', true);
        rfb.sendKey(keysym, code);
        if (shift) rfb.sendKey(keysyms.shift, 'ShiftLeft', false);
      }
      rfb.focus();
    },
    close: () => open && rfb.disconnect(),
  };
}
