/**
 * The VGA screen of a vm guest in the web console, in a real browser (Debian's chromium driven
 * by playwright-core) against a private lodged on loopback: one busybox vm guest, one browser.
 * Its Screen tab draws the guest's screen through noVNC over lodged's /vga WebSocket (the
 * canvas is not one colour, and no CSP refusal is logged); text typed there reaches a shell on
 * the guest's first virtual terminal as key presses (what it runs shows on the serial console);
 * other combinations switch its virtual terminals; unscaled it shows at its own size; it pops
 * out into a window of its own; Ctrl-Alt-Del reaches the guest's kernel, which restarts the machine; stopped, the guest's tab
 * says why the screen is unavailable and offers to start it (and /vga refuses it with lodged's 409). /vga carries VNC in binary frames and ends on a text frame; an upgrade without a
 * session, or from another origin, is refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import { sessionCookie } from '../../src/api/users.js';
import { addUser, launchChromium, logIn, newPage, saveScreenshot } from './browser.js';
import { decodePng, inkShare } from './png.js';
import { guestPid, guestSh, requireProgram, TestDaemon } from './harness.js';

const d = new TestDaemon({ args: ['--listen', '127.0.0.1:0'] });
let url = '';
let browser: Browser;
let page: Page;
const refused: string[] = [];

before(async () => {
  requireProgram('/usr/bin/qemu-system-x86_64', 'qemu-system-x86');
  await d.start();
  url = `https://127.0.0.1:${(await d.client.host()).listen!.port}/`;
  const password = addUser(d, 'admin', 'admin');
  const boot = async () => {
    await d.buildBusybox();
    await d.launch('v1', { kind: 'vm', networks: [], limits: { memory: '128M' } });
    // a shell on the guest's first virtual terminal (the screen): busybox's init keeps its shell on the serial console
    await guestSh(d, 'v1', 'setsid sh -c "exec sh </dev/tty1 >/dev/tty1 2>&1" </dev/null >/dev/null 2>&1 &');
  };
  [browser] = await Promise.all([launchChromium(), boot()]);
  // tall enough for the guest's summary, the tabs and its whole screen in one picture
  page = await newPage(browser, 'light', 780);
  // noVNC draws on a canvas: the page's CSP must let it, and its WebSocket, through
  page.on('console', (m) => /Content Security Policy/.test(m.text()) && refused.push(m.text()));
  await page.goto(url);
  await logIn(page, 'admin', password);
  await page.goto(`${url}#/guests/v1`);
});
after(async () => {
  await browser?.close();
  await d.cleanup();
});

const status = (text: string) => page.getByRole('status').filter({ hasText: `Screen: ${text}` });
const canvas = () => page.locator('.screen canvas');

/** Polls until `check` holds (or `ms` pass), answering its last value. */
async function until<T>(get: () => Promise<T>, check: (v: T) => boolean, ms: number): Promise<T> {
  for (const end = Date.now() + ms; ; await sleep(200)) {
    const v = await get();
    if (check(v) || Date.now() > end) return v;
  }
}

test("the Screen tab shows the guest's screen: noVNC's canvas is not one colour, the CSP refused nothing, full screen scales it up; QEMU listens on no TCP port", async () => {
  await page.getByRole('tab', { name: 'Screen' }).click();
  await status('connected').waitFor({ timeout: 15_000 });
  const ink = await until(async () => inkShare(decodePng(await canvas().screenshot())), (i) => i > 0.002, 10_000);
  assert.ok(ink > 0.002, `the screen is ${ink === 0 ? 'one colour' : `${(ink * 100).toFixed(2)}% ink`}`);
  assert.deepEqual(refused, []);
  // full screen: the screen takes the whole window, scaled up to fit it, until it is left
  const small = (await canvas().boundingBox())!;
  await page.getByRole('button', { name: 'Full screen' }).click();
  await page.waitForFunction(() => document.fullscreenElement?.classList.contains('screen'));
  const large = await until(async () => (await canvas().boundingBox())!, (b) => b.width > small.width * 1.1, 5000);
  assert.ok(large.width > small.width * 1.1, `the canvas was ${small.width}x${small.height}, full screen ${large.width}x${large.height}`);
  await page.evaluate(() => document.exitFullscreen());
  await page.waitForFunction(() => !document.fullscreenElement);
  // and the guest's QEMU listens on no TCP port: its screen is reached only through lodged
  const qemu = await guestPid(d, 'v1');
  assert.doesNotMatch(execFileSync('ss', ['-Hltnp']).toString(), new RegExp(`pid=${qemu},`));
});

test('text typed on the screen reaches the guest as key presses: a shell on its virtual terminal runs it', async () => {
  const inkBefore = inkShare(decodePng(await canvas().screenshot()));
  await page.getByLabel('Text to type').fill('echo vga-$((6*7)) > /dev/console');
  await page.getByRole('button', { name: 'Type + Enter' }).click();
  // the shell on tty1 writes to the serial console: the answer is there, its command is not
  const log = await until(() => d.client.guests.consoleLog('v1'), (l) => l.includes('vga-42'), 15_000);
  assert.match(log, /vga-42\r*\n/);
  // the typed line shows on the screen too (its shell echoes it there): about 30 characters more ink than a blinking cursor
  const inkAfter = inkShare(decodePng(await canvas().screenshot()));
  assert.ok(inkAfter > inkBefore + 0.001, `the screen's ink went from ${(inkBefore * 100).toFixed(2)}% to ${(inkAfter * 100).toFixed(2)}%`);
  await page.evaluate(() => scrollTo(0, 0));
  await saveScreenshot(page, 'vga');
});

test("other combinations reach the guest (Ctrl-Alt-F2 shows its second virtual terminal, Ctrl-Alt-F1 the first again); unscaled, the screen shows at the guest's own size; it pops out into a window of its own", async () => {
  // opening tty2 makes the kernel allocate it: a switch to a terminal nobody opened is refused
  await guestSh(d, 'v1', 'echo on-tty2 > /dev/tty2');
  const active = () => guestSh(d, 'v1', 'cat /sys/class/tty/tty0/active');
  for (const n of [2, 1]) {
    await page.getByLabel('Send keys').selectOption(`Ctrl-Alt-F${n}`);
    assert.equal(await until(active, (a) => a === `tty${n}\n`, 10_000), `tty${n}\n`, `Ctrl-Alt-F${n} switched the guest's terminal`);
  }
  // unscaled, the canvas is drawn at its own size; scaled, it fills its box's height or width
  const sizes = () => canvas().evaluate((c: HTMLCanvasElement) => ({ own: c.width, shown: c.getBoundingClientRect().width, box: c.parentElement!.getBoundingClientRect() }));
  await page.getByLabel('Scale to fit').uncheck();
  const own = await until(sizes, (s) => Math.abs(s.shown - s.own) < 1, 5000);
  assert.ok(Math.abs(own.shown - own.own) < 1, `unscaled, the ${own.own}-pixel screen is shown ${own.shown} wide`);
  await page.getByLabel('Scale to fit').check();
  const fitted = await until(sizes, (s) => Math.abs(s.shown - s.own) >= 1, 5000);
  const canvasBox = (await canvas().boundingBox())!;
  assert.ok(Math.abs(canvasBox.height - fitted.box.height) < 2 || Math.abs(canvasBox.width - fitted.box.width) < 2, `scaled, the canvas is ${canvasBox.width}x${canvasBox.height} in a ${fitted.box.width}x${fitted.box.height} box`);

  const [popup] = await Promise.all([page.waitForEvent('popup'), page.getByRole('button', { name: 'Pop out' }).click()]);
  try {
    await popup.getByRole('status').filter({ hasText: 'Screen: connected' }).waitFor({ timeout: 15_000 });
    const ink = await until(async () => inkShare(decodePng(await popup.locator('.screen canvas').screenshot())), (i) => i > 0.002, 10_000);
    assert.ok(ink > 0.002, `the popped-out screen is ${ink === 0 ? 'one colour' : `${(ink * 100).toFixed(2)}% ink`}`);
    assert.equal(await popup.getByRole('tab').count(), 0, 'the window holds the screen alone');
    assert.equal(await popup.getByRole('button', { name: 'Pop out' }).count(), 0);
  } finally {
    await popup.close();
  }
});

test('/vga speaks VNC in binary frames and ends on a text frame; an upgrade without a session, or with one from another origin, is refused', async () => {
  const session = (await page.context().cookies()).find((c) => c.name === sessionCookie);
  assert.ok(session, 'the browser holds a session');
  const cookie = `${sessionCookie}=${session.value}`;
  const vnc = await vgaSocket({ cookie, origin: new URL(url).origin });
  assert.deepEqual(await vnc.first, { text: 'RFB 003.008\n', binary: true }, "the guest's VNC server greets through lodged");
  vnc.ws.send('a text frame');
  assert.deepEqual(await vnc.closed, { code: 4400, error: { code: 'BAD_REQUEST', message: 'the VGA screen takes binary frames only (VNC): a text frame ends it' } });
  assert.equal(await upgradeStatus({}), 401);
  assert.equal(await upgradeStatus({ cookie, origin: 'https://evil.example' }), 403);
});

test("Ctrl-Alt-Del reaches the guest's kernel, which restarts the machine; a stopped guest's tab says why there is no screen and offers to start it", async () => {
  // the kernel restarts at once on Ctrl-Alt-Del when init has not asked for it as a signal (busybox init does: its
  // ctrlaltdel action powers off, but in about 1 run of 4 here it never ran, though all 8 scancodes reached the guest)
  await guestSh(d, 'v1', 'echo 1 > /proc/sys/kernel/ctrl-alt-del');
  const banners = (log: string) => log.split('built-in shell (ash)').length - 1;
  assert.equal(banners(await d.client.guests.consoleLog('v1')), 1);
  await page.getByRole('button', { name: 'Ctrl-Alt-Del' }).click();
  // booted again: SeaBIOS on the screen, then the serial console's shell greets a second time
  const log = await until(() => d.client.guests.consoleLog('v1'), (l) => banners(l) === 2, 60_000);
  assert.equal(banners(log), 2, `the guest did not boot again; its console ends with ${JSON.stringify(log.slice(-300))}`);
  assert.equal((await d.client.guests.get('v1')).state, 'running');

  await d.done(await d.client.guests.changeState('v1', { action: 'stop', force: true }));
  await page.getByText('The screen is unavailable: v1 is stopped.').waitFor({ timeout: 10_000 });
  await page.getByRole('button', { name: 'Start v1' }).waitFor();
  const session = (await page.context().cookies()).find((c) => c.name === sessionCookie)!;
  const stopped = await vgaSocket({ cookie: `${sessionCookie}=${session.value}` });
  assert.deepEqual(await stopped.closed, { code: 4409, error: { code: 'CONFLICT', message: 'cannot show the screen of v1: it is stopped: start it' } });
});

const vgaUrl = () => `wss://${new URL(url).host}/1.0/guests/v1/vga`;

/** A WebSocket on /vga: its first frame, and how it closed (with lodged's error, sent as a text frame before). */
function vgaSocket(headers: Record<string, string>) {
  const ws = new WebSocket(vgaUrl(), { rejectUnauthorized: false, headers });
  let error: unknown;
  const first = new Promise<{ text: string; binary: boolean }>((resolve) => ws.once('message', (data: Buffer, binary: boolean) => resolve({ text: data.toString(), binary })));
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (!binary) error = (JSON.parse(data.toString()) as { error: unknown }).error;
  });
  const closed = new Promise<{ code: number; error: unknown }>((resolve, reject) => {
    ws.on('close', (code: number) => resolve({ code, error }));
    ws.on('error', reject);
  });
  return { ws, first, closed };
}

/** The HTTP status lodged answers an upgrade to /vga with (the upgrade accepted is a failure). */
function upgradeStatus(headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = vgaUrl();
    const ws = new WebSocket(url, { rejectUnauthorized: false, headers });
    ws.on('open', () => {
      ws.close();
      reject(new Error(`the upgrade to ${url} was accepted`));
    });
    ws.on('error', () => {});
    ws.on('unexpected-response', (_request, response) => {
      response.resume();
      resolve(response.statusCode!);
    });
  });
}
