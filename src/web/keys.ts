/**
 * @module Keys a guest's screen sends that the reader's own keyboard cannot (the browser or
 * their desktop takes them first): "type this text", each character as the key a US keyboard
 * types it with (its X keysym, its KeyboardEvent code, and whether Shift is held), so that
 * a guest without an agent gets real key presses; and combinations such as Ctrl-Alt-F2. QEMU
 * takes the code as a scancode when it can (its extended key events), else the keysym: Shift
 * is pressed as a person would, so both give the guest the same character.
 */

export interface Stroke {
  keysym: number;
  code: string;
  shift: boolean;
}

export const keysyms = { shift: 0xffe1, enter: 0xff0d, tab: 0xff09 } as const;

const punctuation: Record<string, [string, boolean]> = {
  ' ': ['Space', false], '`': ['Backquote', false], '-': ['Minus', false], '=': ['Equal', false],
  '[': ['BracketLeft', false], ']': ['BracketRight', false], '\\': ['Backslash', false], ';': ['Semicolon', false],
  "'": ['Quote', false], ',': ['Comma', false], '.': ['Period', false], '/': ['Slash', false],
  '~': ['Backquote', true], '_': ['Minus', true], '+': ['Equal', true], '{': ['BracketLeft', true],
  '}': ['BracketRight', true], '|': ['Backslash', true], ':': ['Semicolon', true], '"': ['Quote', true],
  '<': ['Comma', true], '>': ['Period', true], '?': ['Slash', true],
};
const shiftedDigits = ')!@#$%^&*(';

function stroke(c: string): Stroke {
  if (c === '\n') return { keysym: keysyms.enter, code: 'Enter', shift: false };
  if (c === '\t') return { keysym: keysyms.tab, code: 'Tab', shift: false };
  const keysym = c.charCodeAt(0);
  if (/^[a-z]$/.test(c)) return { keysym, code: `Key${c.toUpperCase()}`, shift: false };
  if (/^[A-Z]$/.test(c)) return { keysym, code: `Key${c}`, shift: true };
  if (/^[0-9]$/.test(c)) return { keysym, code: `Digit${c}`, shift: false };
  const digit = shiftedDigits.indexOf(c);
  if (digit >= 0) return { keysym, code: `Digit${digit}`, shift: true };
  const key = punctuation[c];
  if (key) return { keysym, code: key[0], shift: key[1] };
  throw new Error(`cannot type ${JSON.stringify(c)}: only what a US keyboard types, Enter and Tab`);
}

/** The strokes that type `text` (a line break is Enter); refuses the whole text if one character has no key. */
export function strokes(text: string): Stroke[] {
  return [...text.replace(/\r\n?/g, '\n')].map(stroke);
}

/** A key as noVNC sends it: its X keysym and its KeyboardEvent code. */
export type Key = readonly [keysym: number, code: string];

const ctrl: Key = [0xffe3, 'ControlLeft'];
const alt: Key = [0xffe9, 'AltLeft'];
const fn = (n: number): Key => [0xffbe + n - 1, `F${n}`];

/** Combinations held down together in this order and let go in the other (Ctrl-Alt-Del has noVNC's own). */
export const combinations: ReadonlyArray<{ label: string; keys: readonly Key[] }> = [
  ...[1, 2, 3, 4, 5, 6, 7].map((n) => ({ label: `Ctrl-Alt-F${n}`, keys: [ctrl, alt, fn(n)] })),
  { label: 'Ctrl-Alt-Backspace', keys: [ctrl, alt, [0xff08, 'Backspace']] },
  { label: 'Alt-Tab', keys: [alt, [0xff09, 'Tab']] },
  { label: 'Alt-F4', keys: [alt, fn(4)] },
  { label: 'Ctrl-Esc', keys: [ctrl, [0xff1b, 'Escape']] },
  { label: 'Print Screen', keys: [[0xff61, 'PrintScreen']] },
  { label: 'Windows key', keys: [[0xffeb, 'MetaLeft']] },
];
