/**
 * The web console in a real browser: Debian's chromium, headless, driven by playwright-core,
 * against a private lodged listening on loopback. One lodged, one browser, busybox ct guests:
 * a wrong password is refused at the field; the admin creates a guest through the wizard (a
 * bad memory size shown at its field first) and sees it reach running without a reload;
 * its serial console answers `hostname`, read from xterm's DOM and seen in its pixels; a
 * viewer's stop is refused with lodged's 403; two guests are stopped together. Each page's
 * screenshot lands in docs/screenshots/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { decodePng, inkShare } from './png.js';
import { addUser as addUserTo, launchChromium, logIn, newPage as newPageOf, saveScreenshot } from './browser.js';
import { TestDaemon, waitForState } from './harness.js';

const d = new TestDaemon({ args: ['--listen', '127.0.0.1:0'] });
let url = '';
let browser: Browser;
let admin: Page;
const passwords = { admin: '', viewer: '' };
const addUser = (name: string, role: 'admin' | 'viewer') => addUserTo(d, name, role);
const newPage = (colorScheme: 'light' | 'dark' = 'light') => newPageOf(browser, colorScheme);

const row = (page: Page, guest: string) => page.locator(`tr[data-guest="${guest}"]`);
const stateOf = (page: Page, guest: string, state: string) => row(page, guest).locator(`.state-${state}`).waitFor({ timeout: 30_000 });

before(async () => {
  await d.start();
  url = `https://127.0.0.1:${(await d.client.host()).listen!.port}/`;
  passwords.admin = addUser('admin', 'admin');
  passwords.viewer = addUser('viewer', 'viewer');
  [browser] = await Promise.all([launchChromium(), d.buildBusybox().then(() => Promise.all([d.launch('b1'), d.launch('b2')]))]);
  admin = await newPage();
});
after(async () => {
  await browser?.close();
  await d.cleanup();
});

test('the console is served on the HTTPS listener (not the unix socket) with a CSP; a wrong password is refused at the field; the admin logs in', async () => {
  const page = await admin.goto(url);
  assert.equal(page?.status(), 200);
  assert.match(page!.headers()['content-security-policy'] ?? '', /script-src 'self';/);
  // the unix socket has no browser at its end: its API is as it was
  await assert.rejects(d.client.transport.request('GET', '/', { text: true }), { code: 'NOT_FOUND', message: 'no such endpoint: GET /' });
  await logIn(admin, 'admin', 'not-the-password');
  await admin.locator('#login-error', { hasText: 'wrong user name or password' }).waitFor();
  assert.equal(await admin.getByLabel('Password').getAttribute('aria-invalid'), 'true');
  await saveScreenshot(admin, 'login');
  await logIn(admin, 'admin', passwords.admin);
  await row(admin, 'b1').waitFor();
});

test('the wizard shows lodged\'s message at the field, then creates a ct guest that the list shows running without a reload', async () => {
  await admin.evaluate(() => Object.assign(window, { sameDocument: true }));
  await admin.getByRole('link', { name: 'New guest' }).first().click();
  await admin.getByLabel('Kind', { exact: true }).selectOption('ct');
  await admin.getByLabel('Image', { exact: true }).selectOption('busybox');
  await admin.getByLabel('Name', { exact: true }).fill('web1');
  await admin.getByLabel('Memory', { exact: true }).fill('lots');
  await admin.getByRole('button', { name: 'Create' }).click();
  await admin.locator('#memory-error', { hasText: 'limits.memory: "lots" is not valid' }).waitFor();
  await saveScreenshot(admin, 'create');
  await admin.getByLabel('Memory', { exact: true }).fill('128M');
  await admin.getByRole('button', { name: 'Create' }).click();
  await row(admin, 'web1').waitFor();
  await stateOf(admin, 'web1', 'running');
  assert.equal(await admin.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument), true, 'the page was not reloaded');
  assert.equal((await d.client.guests.get('web1')).limits.memory, '128M');
  await saveScreenshot(admin, 'guests');
});

test('the serial console answers hostname: as text in xterm\'s DOM, and as pixels that are not one colour', async () => {
  const page = await newPage('dark');
  // xterm draws its font, cursor and colours through <style> elements of its own: the page's CSP must let them apply
  const refused: string[] = [];
  page.on('console', (m) => /Content Security Policy/.test(m.text()) && refused.push(m.text()));
  await page.goto(url);
  await logIn(page, 'admin', passwords.admin);
  await row(page, 'web1').getByRole('link', { name: 'web1' }).click();
  await page.getByRole('tab', { name: 'Console' }).click();
  await page.getByRole('status').filter({ hasText: 'connected' }).waitFor();
  // the guest's shell may still be starting: type again until it answers
  const answer = page.locator('.xterm-rows > div').filter({ hasText: /^\s*web1\s*$/ }).first();
  for (let tries = 0; !(await answer.isVisible()); tries++) {
    assert.ok(tries < 20, `no answer to hostname; the terminal shows:\n${await page.locator('.xterm-rows').innerText()}`);
    await page.keyboard.type('hostname\n');
    await answer.waitFor({ timeout: 1000 }).catch(() => {});
  }
  const ink = inkShare(decodePng(await answer.screenshot()));
  assert.ok(ink > 0.002, `the row that says web1 is ${ink === 0 ? 'one colour' : `${(ink * 100).toFixed(2)}% ink`}: the text is not drawn`);
  assert.deepEqual(refused, []);
  await saveScreenshot(page, 'console');
  await page.context().close();
});

test("a viewer's stop is refused, showing lodged's 403; the admin stops two guests at once", async () => {
  const viewer = await newPage();
  await viewer.goto(url);
  await logIn(viewer, 'viewer', passwords.viewer);
  await row(viewer, 'b1').getByRole('checkbox').check();
  await viewer.getByRole('button', { name: 'Stop' }).click();
  await viewer.getByRole('alert').filter({ hasText: 'stop b1: user viewer is a viewer: PUT /1.0/guests/:name/state needs the admin role (403)' }).waitFor();
  await viewer.context().close();
  assert.equal((await d.client.guests.get('b1')).state, 'running');

  await admin.goto(`${url}#/guests`);
  await admin.evaluate(() => Object.assign(window, { sameDocument: true }));
  await row(admin, 'b1').getByRole('checkbox').check();
  await row(admin, 'b2').getByRole('checkbox').check();
  await admin.getByRole('button', { name: 'Stop' }).click();
  await Promise.all([stateOf(admin, 'b1', 'stopped'), stateOf(admin, 'b2', 'stopped')]);
  assert.equal(await admin.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument), true, 'the list changed without a reload');
  await waitForState(d, 'b2', 'stopped', 5000);
  await stateOf(admin, 'web1', 'running');
});
