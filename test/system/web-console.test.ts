/**
 * The web console in a real browser: Debian's chromium, headless, driven by playwright-core,
 * against a private lodged listening on loopback, both in a network namespace of the test's
 * own (so that its network "default" and the guests' NICs are real). One lodged, one browser,
 * busybox ct guests: a wrong password is refused at the field; the dashboard counts the
 * guests; the admin creates a guest through the wizard (a bad CPU count and memory size shown
 * at their fields first) and sees it reach running without a reload; its serial console
 * answers `hostname`, read from xterm's DOM and seen in its pixels, as does a shell on its
 * Shell tab (exec -t), which says how it exited; its page draws its graphs
 * from lodged's history (sampled every second here) and changes its limits live; the images,
 * networks (with a port forward added and removed there), an image imported by upload (its
 * progress seen, a bad name and a file that is no image refused), operations, events and API pages
 * show lodged's own data, reached by shortcuts; a
 * list shows each running guest's figures from lodged's history and sorts by them; a
 * viewer's stop is refused with lodged's 403; two guests are stopped together; a stopped
 * guest's Storage tab takes and deletes a snapshot, backs it up, attaches and detaches a volume. Each page's
 * screenshot lands in docs/screenshots/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { decodePng, inkShare } from './png.js';
import { addUser as addUserTo, launchChromium, logIn, newPage as newPageOf, saveScreenshot } from './browser.js';
import { TestDaemon, waitForState } from './harness.js';

const d = new TestDaemon({ netns: true, args: ['--listen', '127.0.0.1:0', '--history-interval', '1'] });
let url = '';
let browser: Browser;
let admin: Page;
const passwords = { admin: '', viewer: '' };
const addUser = (name: string, role: 'admin' | 'viewer') => addUserTo(d, name, role);
const newPage = (colorScheme: 'light' | 'dark' = 'light') => newPageOf(browser, colorScheme);

/** How much a screenshot of live figures (addresses, graphs, times) may differ from the last before it is saved again. */
const live = 0.05;
const row = (page: Page, guest: string) => page.locator(`tr[data-guest="${guest}"]`);
const stateOf = (page: Page, guest: string, state: string) => row(page, guest).locator(`.state-${state}`).waitFor({ timeout: 30_000 });

before(async () => {
  await d.start();
  url = `https://127.0.0.1:${(await d.client.host()).listen!.port}/`;
  passwords.admin = addUser('admin', 'admin');
  passwords.viewer = addUser('viewer', 'viewer');
  [browser] = await Promise.all([launchChromium(d.netns), d.buildBusybox().then(() => Promise.all([d.launch('b1'), d.launch('b2')]))]);
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
  // the landing page is the dashboard: b1 and b2 run, both ct
  await admin.getByRole('heading', { name: 'Dashboard' }).waitFor();
  const count = (at: string) => admin.locator(`[data-count="${at}"]`);
  await count('all/running').filter({ hasText: /^2$/ }).waitFor();
  assert.equal(await count('ct/running').innerText(), '2');
  assert.equal(await count('vm/all').innerText(), '0');
  assert.equal(await count('all/stopped').innerText(), '0');
  // the host's figures come from lodged's history: a memory figure and a disk of the pool
  await admin.locator('[data-gauge=memory] .figure').filter({ hasText: /iB$/ }).waitFor({ timeout: 10_000 }).catch(async (e: Error) => {
    throw new Error(`${e.message}\nthe dashboard shows:\n${await admin.locator('main').innerText()}`);
  });
  await admin.locator('[data-top=memoryBytes] li').nth(1).waitFor();
  await saveScreenshot(admin, 'dashboard', live);
  await admin.getByRole('link', { name: 'Guests', exact: true }).click();
  await row(admin, 'b1').waitFor();
});

test('the wizard shows lodged\'s message at the field, then creates a ct guest that the list shows running without a reload', async () => {
  await admin.evaluate(() => Object.assign(window, { sameDocument: true }));
  await admin.getByRole('link', { name: 'New guest' }).first().click();
  await admin.getByLabel('Kind', { exact: true }).selectOption('ct');
  await admin.getByLabel('Image', { exact: true }).selectOption('busybox');
  await admin.getByLabel('Name', { exact: true }).fill('web1');
  await admin.getByLabel('CPU', { exact: true }).fill('many');
  await admin.getByRole('button', { name: 'Create' }).click();
  await admin.locator('#cpu-error', { hasText: 'limits.cpu: must be number' }).waitFor();
  assert.equal(await admin.getByLabel('CPU', { exact: true }).getAttribute('aria-invalid'), 'true');
  await admin.getByLabel('CPU', { exact: true }).fill('');
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
  await saveScreenshot(admin, 'guests', live);
});

test('the serial console answers hostname: as text in xterm\'s DOM, and as pixels that are not one colour', async () => {
  const page = await newPage('dark');
  // xterm draws its font, cursor and colours through <style> elements of its own: the page's CSP must let them apply
  const refused: string[] = [];
  page.on('console', (m) => /Content Security Policy/.test(m.text()) && refused.push(m.text()));
  await page.goto(`${url}#/guests`);
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

test('the Shell tab runs a shell in the guest on a terminal (exec -t): it answers hostname, and says how it exited', async () => {
  const page = await newPage('light');
  await page.goto(`${url}#/guests`);
  await logIn(page, 'admin', passwords.admin);
  await row(page, 'web1').getByRole('link', { name: 'web1' }).click();
  await page.getByRole('tab', { name: 'Shell' }).click();
  await page.getByRole('status').filter({ hasText: 'Shell: connected' }).waitFor();
  await page.keyboard.type('hostname\n');
  await page.locator('.xterm-rows > div').filter({ hasText: /^\s*web1\s*$/ }).first().waitFor();
  await saveScreenshot(page, 'shell');
  await page.keyboard.type('exit 3\n');
  await page.getByRole('status').filter({ hasText: 'Shell: closed: the shell exited with 3' }).waitFor();
  await page.context().close();
});

test("the guest's page draws its graphs from lodged's history, and changes its memory limit live, a bad one refused at the field", async () => {
  await admin.goto(`${url}#/guests/web1`);
  // a line needs two samples: lodged takes one every second here (the metrics serve a reading for a second, so at most every two)
  let graphs = await d.client.history.guest('web1');
  for (const until = Date.now() + 10_000; graphs.time.length < 2 && Date.now() < until; graphs = await d.client.history.guest('web1')) await new Promise((r) => setTimeout(r, 250));
  assert.ok(graphs.time.length >= 2, `lodged sampled web1 ${graphs.time.length} times`);
  assert.ok(graphs.memoryBytes.some((m) => m !== null && m > 0), 'its memory was read');
  // the memory graph's line is drawn in its colour (#8250df): count those pixels of its canvas
  const memoryInk = () =>
    admin.locator('[data-graph=memory] canvas').evaluate((c: HTMLCanvasElement) => {
      const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < px.length; i += 4) if (Math.abs(px[i]! - 0x82) < 24 && Math.abs(px[i + 1]! - 0x50) < 24 && Math.abs(px[i + 2]! - 0xdf) < 24) n++;
      return n;
    });
  await admin.locator('[data-graph=memory] canvas').waitFor();
  let ink = 0;
  for (let tries = 0; (ink = await memoryInk()) < 50 && tries < 20; tries++) await admin.waitForTimeout(250);
  assert.ok(ink >= 50, `the memory graph has ${ink} pixels of its line`);
  await saveScreenshot(admin, 'guest', live);

  await admin.getByRole('tab', { name: 'Limits' }).click();
  await admin.getByLabel('Memory limit').fill('lots');
  await admin.getByRole('button', { name: 'Apply' }).click();
  await admin.locator('#limit-memory-error', { hasText: 'limits.memory: "lots" is not valid' }).waitFor();
  await admin.getByLabel('Memory limit').fill('192M');
  await admin.getByRole('button', { name: 'Apply' }).click();
  await admin.getByRole('status').filter({ hasText: 'Changed, live.' }).waitFor();
  assert.equal((await d.client.guests.get('web1')).limits.memory, '192M');
  await admin.getByRole('tab', { name: 'Network' }).click();
  await admin.getByRole('cell', { name: 'default', exact: true }).waitFor();
  await admin.getByRole('tab', { name: 'Operations' }).click();
  await admin.locator('tr', { hasText: 'guest.launch' }).locator('.status-success').waitFor();
});

test('shortcuts reach the images, networks, operations, events and API pages, each showing what lodged has; / focuses the filter; ? lists the shortcuts', async () => {
  await admin.goto(`${url}#/guests`);
  await row(admin, 'web1').waitFor();
  await admin.keyboard.press('/');
  await admin.keyboard.type('web');
  await row(admin, 'b1').waitFor({ state: 'detached' });
  assert.deepEqual(await admin.locator('tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.guest)), ['web1']);
  await admin.locator('[data-filter]').evaluate((e: HTMLElement) => e.blur());
  await admin.keyboard.press('?');
  await admin.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor();
  await saveScreenshot(admin, 'shortcuts', live);
  await admin.keyboard.press('Escape');

  await admin.keyboard.type('gi');
  await admin.locator('tr[data-image=busybox]').waitFor();
  await admin.locator('tr', { hasText: 'image.build' }).locator('.status-success').waitFor();
  await saveScreenshot(admin, 'images', live);

  await admin.keyboard.type('gn');
  const network = admin.locator('tr[data-network=default]');
  await network.locator('.network-guests', { hasText: 'web1' }).waitFor();
  assert.deepEqual((await network.locator('.network-guests').innerText()).split(', ').sort(), ['b1', 'b2', 'web1']);
  // a port forward to a guest on a network: a bad port refused at its field, then one added, shown with its network, and removed
  const form = admin.getByRole('form', { name: 'Add a port forward' });
  await form.getByLabel('Guest', { exact: true }).selectOption('web1');
  await form.getByLabel('Host port').fill('http');
  await form.getByLabel('Guest port').fill('80');
  await form.getByRole('button', { name: 'Add forward' }).click();
  await admin.locator('#fwd-hostPort-error', { hasText: 'hostPort' }).waitFor();
  await form.getByLabel('Host port').fill('18080');
  await form.getByRole('button', { name: 'Add forward' }).click();
  const forward = admin.locator('tr[data-forward="tcp/18080"]');
  await forward.filter({ hasText: 'web1' }).filter({ hasText: 'default' }).waitFor();
  assert.deepEqual((await d.client.networks.forwards()).map((f) => [f.guest, f.hostPort, f.guestPort, f.network]), [['web1', 18080, 80, 'default']]);
  await saveScreenshot(admin, 'networks', live);
  await forward.getByRole('button', { name: 'Remove' }).click();
  await forward.waitFor({ state: 'detached' });
  assert.deepEqual(await d.client.networks.forwards(), []);

  await admin.keyboard.type('go');
  await admin.locator('tr', { hasText: 'guest.launch' }).filter({ hasText: 'web1' }).locator('.status-success').waitFor();
  assert.equal(await admin.locator('tr', { hasText: 'guest.launch' }).filter({ hasText: 'web1' }).locator('progress').getAttribute('value'), '100');
  await saveScreenshot(admin, 'operations', live);

  await admin.keyboard.type('ge');
  await admin.getByRole('status').filter({ hasText: "Following lodged's events" }).waitFor();
  await d.client.guests.update('web1', { limits: { memory: '160M' } });
  await admin.locator('tr[data-event="web1 updated"]').filter({ hasText: '160M' }).waitFor();
  await saveScreenshot(admin, 'events', live);

  await admin.keyboard.type('ga');
  const history = admin.locator('[data-endpoint="GET /1.0/guests/{name}/history"]');
  await history.waitFor();
  assert.match(await history.innerText(), /viewer/);
  assert.match(await admin.locator('[data-endpoint="PUT /1.0/guests/{name}/state"]').innerText(), /admin/);
  await saveScreenshot(admin, 'api');
});

test('an image imported by upload shows its progress, then is listed; a file that is no image is refused with lodged\'s words, leaving none', async () => {
  const dir = mkdtempSync('/tmp/lodge-web-upload-');
  try {
    // a rootfs of busybox and a few megabytes of noise, so that the upload, slowed to 4 MB/s, takes a second or two
    mkdirSync(path.join(dir, 'root/bin'), { recursive: true });
    copyFileSync('/bin/busybox', path.join(dir, 'root/bin/busybox'));
    symlinkSync('busybox', path.join(dir, 'root/bin/sh'));
    writeFileSync(path.join(dir, 'root/noise'), randomBytes(6 * 1024 * 1024));
    execFileSync('tar', ['-C', path.join(dir, 'root'), '-cf', path.join(dir, 'mini.tar'), '.']);
    writeFileSync(path.join(dir, 'junk.tar'), randomBytes(64 * 1024));

    await admin.goto(`${url}#/images`);
    const cdp = await admin.context().newCDPSession(admin);
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 4 * 1024 * 1024 });
    const form = admin.getByRole('form', { name: 'Import an image' });
    await form.getByLabel('Image file').setInputFiles(path.join(dir, 'mini.tar'));
    await form.getByLabel('Image name').fill('no good');
    await form.getByRole('button', { name: 'Import' }).click();
    await admin.locator('#import-name-error').filter({ hasText: 'query parameter name' }).waitFor();
    await form.getByLabel('Image name').fill('mini');
    await form.getByRole('button', { name: 'Import' }).click();
    await admin.locator('.upload-progress').filter({ hasText: /MiB of [\d.]+ MiB sent/ }).waitFor({ timeout: 10_000 });
    await admin.getByRole('status').filter({ hasText: 'mini is imported.' }).waitFor({ timeout: 60_000 });
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await admin.locator('tr[data-image=mini]').waitFor();
    await saveScreenshot(admin, 'images-import', live);

    await form.getByLabel('Image file').setInputFiles(path.join(dir, 'junk.tar'));
    await form.getByLabel('Image name').fill('junk');
    await form.getByRole('button', { name: 'Import' }).click();
    await admin.getByRole('alert').filter({ hasText: 'junk' }).waitFor({ timeout: 30_000 });
    assert.deepEqual((await d.client.images.list()).map((i) => i.name).filter((n) => n === 'junk'), [], 'no half-imported image');
    await admin.locator('tr[data-image=mini]').getByRole('button', { name: 'Delete' }).click();
    await admin.locator('tr[data-image=mini]').waitFor({ state: 'detached' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the list shows each running guest's CPU, memory, disk and network from lodged's history, and puts the one holding most memory first when asked", async () => {
  await admin.goto(`${url}#/guests`);
  const memory = (guest: string) => row(admin, guest).locator('[data-figure=memoryBytes]');
  for (const guest of ['b1', 'b2', 'web1']) await memory(guest).filter({ hasText: /^[\d.]+ (KiB|MiB)$/ }).waitFor({ timeout: 10_000 });
  assert.match(await row(admin, 'web1').locator('[data-figure=cpu]').innerText(), /^[\d.]+(%| CPU)$/);
  assert.match(await row(admin, 'web1').locator('[data-figure=networkBytesPerSecond]').innerText(), /^[\d.]+ (B|KiB|MiB)\/s$/);
  await admin.getByRole('button', { name: 'Memory' }).click();
  const unit = { KiB: 2 ** 10, MiB: 2 ** 20 } as Record<string, number>;
  const held = await admin.locator('tbody [data-figure=memoryBytes]').evaluateAll((cells) => cells.map((c) => (c as HTMLElement).innerText));
  const bytes = held.map((t) => Number(t.split(' ')[0]) * unit[t.split(' ')[1]!]!);
  assert.deepEqual(bytes, [...bytes].sort((a, b) => b - a), `sorted by memory: ${held.join(', ')}`);
  assert.equal(await admin.locator('th[aria-sort=descending]').innerText(), 'Memory');
});

test("a viewer's stop is refused, showing lodged's 403; the admin stops two guests at once", async () => {
  const viewer = await newPage();
  await viewer.goto(`${url}#/guests`);
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

test("a stopped guest's Storage tab takes a snapshot (a bad name refused at its field), backs it up, attaches and detaches a volume, and deletes the snapshot", async () => {
  const store = mkdtempSync('/tmp/lodge-web-store-');
  try {
    assert.equal(d.lodge(['backup-store', 'create', 'web', path.join(store, 'backups')]).code, 0);
    const made = d.lodge(['volume', 'create', 'webdata', '--size', '64M']);
    assert.equal(made.code, 0, made.stderr);
    await admin.goto(`${url}#/guests/b2`);
    await admin.getByRole('tab', { name: 'Storage' }).click();
    const snapshots = admin.getByRole('form', { name: 'Take a snapshot' });
    await snapshots.getByLabel('Snapshot name').fill('bad name');
    await snapshots.getByRole('button', { name: 'Take snapshot' }).click();
    await admin.locator('#snapshot-name-error').filter({ hasText: 'name' }).waitFor();
    await snapshots.getByLabel('Snapshot name').fill('before');
    await snapshots.getByRole('button', { name: 'Take snapshot' }).click();
    await admin.locator('tr[data-snapshot=before]').filter({ hasText: 'stopped' }).waitFor();

    await admin.getByRole('button', { name: 'Back up now' }).click();
    // the row shows while the backup is written ("not finished"), and again once it is done
    await admin.locator('tr[data-backup]').filter({ hasText: 'web', hasNotText: 'not finished' }).waitFor({ timeout: 60_000 });
    const backups = await d.client.backups.list('web', 'b2');
    assert.equal(backups.length, 1);
    assert.ok(backups[0]!.finished);

    const attach = admin.getByRole('form', { name: 'Attach a volume' });
    await attach.getByLabel('Volume').selectOption('webdata');
    await attach.getByLabel('Mount path').fill('/data');
    await attach.getByRole('button', { name: 'Attach' }).click();
    await admin.locator('tr[data-volume=webdata]').filter({ hasText: '/data' }).waitFor();
    assert.equal((await d.client.volumes.get('webdata')).attachedTo?.guest, 'b2');
    await saveScreenshot(admin, 'storage', live);
    await admin.locator('tr[data-volume=webdata]').getByRole('button', { name: 'Detach' }).click();
    await admin.locator('tr[data-volume=webdata]').waitFor({ state: 'detached' });
    assert.equal((await d.client.volumes.get('webdata')).attachedTo, undefined);

    await admin.locator('tr[data-snapshot=before]').getByRole('button', { name: 'Delete' }).click();
    await admin.locator('tr[data-snapshot=before]').waitFor({ state: 'detached' });
    assert.deepEqual(await d.client.snapshots.list('b2'), []);
  } finally {
    d.lodge(['volume', 'delete', 'webdata']);
    rmSync(store, { recursive: true, force: true });
  }
});
