/**
 * @module "Type this text" on a guest's screen: each character as the key a US keyboard
 * types it with (its X keysym, its KeyboardEvent code, and whether Shift is held), so that
 * a guest without an agent gets real key presses. QEMU takes the code as a scancode when it
 * can (its extended key events), else the keysym: Shift is pressed as a person would, so
 * both give the guest the same character.
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
