/**
 * @module What a browser test of the web console needs beside its lodged: Debian's chromium
 * driven by playwright-core, a page with cookies of its own, the login form, and screenshots
 * kept in docs/screenshots/ only when a page changed.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { decodePng, differingShare } from './png.js';
import { requireProgram, type TestDaemon } from './harness.js';

const chromiumBin = '/usr/bin/chromium';
const screenshots = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url));

export function launchChromium(): Promise<Browser> {
  requireProgram(chromiumBin, 'chromium');
  return chromium.launch({ executablePath: chromiumBin, args: ['--no-sandbox'] });
}

/** A user of the console, made with the CLI; answers its one-time password. */
export function addUser(d: TestDaemon, name: string, role: 'admin' | 'viewer'): string {
  const r = d.lodge(['user', 'add', name, '--role', role]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** A page of its own (its own cookies), light unless asked, small enough for the README (taller if asked). */
export async function newPage(browser: Browser, colorScheme: 'light' | 'dark' = 'light', height = 600): Promise<Page> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 960, height }, colorScheme });
  return context.newPage();
}

export async function logIn(page: Page, user: string, password: string): Promise<void> {
  await page.getByLabel('User').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

/**
 * Saves a page's picture in docs/screenshots, unless the one there differs from it only in a
 * few pixels (a cursor, anti-aliasing): a test run leaves the tree clean until a page changes.
 */
export async function saveScreenshot(page: Page, name: string): Promise<void> {
  mkdirSync(screenshots, { recursive: true });
  const file = `${screenshots}${name}.png`;
  const png = await page.screenshot({ animations: 'disabled' });
  if (existsSync(file) && differingShare(decodePng(png), decodePng(readFileSync(file))) < 0.01) return;
  writeFileSync(file, png);
}
