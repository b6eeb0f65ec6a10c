/**
 * @module What a browser test of the web console needs beside its lodged: Debian's chromium
 * driven by playwright-core, a page with cookies of its own, the login form, and screenshots
 * kept in docs/screenshots/ only when a page changed.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { decodePng, differingShare } from './png.js';
import { requireProgram, type TestDaemon } from './harness.js';

const chromiumBin = '/usr/bin/chromium';
const screenshots = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url));

/**
 * Debian's chromium, headless; in `netns` (a test's network namespace, where its lodged
 * listens) when given: playwright speaks to it over a pipe, so it runs there through nsenter.
 */
export function launchChromium(netns?: string): Promise<Browser> {
  requireProgram(chromiumBin, 'chromium');
  if (!netns) return chromium.launch({ executablePath: chromiumBin, args: ['--no-sandbox'] });
  const dir = mkdtempSync('/tmp/lodge-chromium-');
  const wrapper = path.join(dir, 'chromium');
  writeFileSync(wrapper, `#!/bin/sh\nexec nsenter --net=/run/netns/${netns} ${chromiumBin} "$@"\n`, { mode: 0o755 });
  return chromium.launch({ executablePath: wrapper, args: ['--no-sandbox'] }).finally(() => rmSync(dir, { recursive: true, force: true }));
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
  const page = await context.newPage();
  const said: string[] = [];
  pageLogs.set(page, said);
  page.on('console', (m) => said.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => said.push(`error: ${e.message}`));
  page.on('crash', () => said.push('the page crashed'));
  page.on('requestfailed', (r) => said.push(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  return page;
}

/** What each page logged, failed to load or threw: a failure's message tells it. */
const pageLogs = new WeakMap<Page, string[]>();

export async function logIn(page: Page, user: string, password: string): Promise<void> {
  await page.getByLabel('User').waitFor({ timeout: 15_000 }).catch(async (e: Error) => {
    throw new Error(`${e.message}\nthe page shows: ${await page.locator('body').innerText()}\nit logged:\n${(pageLogs.get(page) ?? []).join('\n')}`);
  });
  await page.getByLabel('User').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

/**
 * Saves a page's picture in docs/screenshots, unless the one there differs from it only in a
 * few pixels (a cursor, anti-aliasing): a test run leaves the tree clean until a page changes.
 * A page of live figures (addresses in a network of a random subnet, graphs, times) differs
 * a little every run: `tolerance` lets it differ more before it counts as changed.
 */
export async function saveScreenshot(page: Page, name: string, tolerance = 0.01): Promise<void> {
  mkdirSync(screenshots, { recursive: true });
  const file = `${screenshots}${name}.png`;
  const png = await page.screenshot({ animations: 'disabled' });
  if (existsSync(file) && differingShare(decodePng(png), decodePng(readFileSync(file))) < tolerance) return;
  writeFileSync(file, png);
}
