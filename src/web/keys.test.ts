import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combinations, keysyms, strokes } from './keys.js';

test('each character is the US key that types it, with Shift where a person holds it; a line break is Enter', () => {
  assert.deepEqual(strokes('eA>1!\n'), [
    { keysym: 0x65, code: 'KeyE', shift: false },
    { keysym: 0x41, code: 'KeyA', shift: true },
    { keysym: 0x3e, code: 'Period', shift: true },
    { keysym: 0x31, code: 'Digit1', shift: false },
    { keysym: 0x21, code: 'Digit1', shift: true },
    { keysym: keysyms.enter, code: 'Enter', shift: false },
  ]);
  assert.deepEqual(strokes('a\r\nb').map((s) => s.code), ['KeyA', 'Enter', 'KeyB']);
  assert.equal(strokes('echo vga-typed > /dev/console').length, 29);
});

test('a character no US key types refuses the whole text, naming it', () => {
  assert.throws(() => strokes('café'), { message: 'cannot type "é": only what a US keyboard types, Enter and Tab' });
});

test('a combination names its keys in the order they are held: Ctrl-Alt-F2 is Control, Alt, then F2', () => {
  const f2 = combinations.find((c) => c.label === 'Ctrl-Alt-F2');
  assert.deepEqual(f2?.keys, [[0xffe3, 'ControlLeft'], [0xffe9, 'AltLeft'], [0xffbf, 'F2']]);
  assert.equal(new Set(combinations.map((c) => c.label)).size, combinations.length, 'each label once');
});
