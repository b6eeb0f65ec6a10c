/**
 * Several lodgeds on one host: two in one network namespace (as two daemons on one host's
 * network) and a third in a namespace of its own, all with default networks. Each keeps
 * its guests reachable while the others start, work and stop; none takes another's bridge.
 * And a restarted lodged heals what it finds: a bridge deleted by hand comes back with its
 * running guests' NICs on it, and a launch removed at restart takes its DNS name with it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { requireProgram, TestDaemon } from './harness.js';

const a = new TestDaemon({ netns: true });
const b = new TestDaemon({ netns: a.netns! });
const c = new TestDaemon({ netns: true });

before(async () => {
  requireProgram('dnsmasq', 'dnsmasq-base');
  requireProgram('nft', 'nftables');
  await a.start();
  await a.buildBusybox();
});
after(async () => {
  // b shares a's namespace: it goes first
  await b.cleanup();
  await c.cleanup();
  await a.cleanup();
});

const exec = (d: TestDaemon, name: string, ...command: string[]) => d.lodge(['exec', name, '--', ...command]);
const ping = (d: TestDaemon, from: string, to: string) => {
  const r = exec(d, from, 'ping', '-c', '1', '-W', '5', to);
  assert.equal(r.code, 0, `${from} reaches ${to} by name: ${r.stdout}${r.stderr}`);
};
const link = (d: TestDaemon, name: string) => d.inNetns(['ip', '-o', 'addr', 'show', 'dev', name]).stdout;

test('three lodgeds with default networks: none takes another bridge, and each keeps its guests reachable while the others come and go', async () => {
  await a.launch('a1');
  await a.launch('a2');
  ping(a, 'a1', 'a2');
  const aNet = await a.client.networks.get('default');
  assert.equal(aNet.bridge, 'lb-default');

  await b.start();
  const bNet = await b.client.networks.get('default');
  assert.equal(bNet.bridge, `lb-defau-${b.instance}`, "b's default network has a bridge of its own");
  assert.match(b.stderr, new RegExp(`network default: lb-default is not this lodged's .*: its bridge is lb-defau-${b.instance}`));
  assert.notEqual(bNet.subnet, aNet.subnet);
  const aBridge = link(a, 'lb-default');
  assert.match(aBridge, new RegExp(`inet ${aNet.gateway}/`));
  assert.doesNotMatch(aBridge, new RegExp(`inet ${bNet.gateway}/`), "b put no address on a's bridge");
  await b.buildBusybox();
  await b.launch('b1');
  await b.launch('b2');
  ping(b, 'b1', 'b2');
  ping(a, 'a1', 'a2');

  await c.start();
  assert.equal((await c.client.networks.get('default')).bridge, 'lb-default', 'its own namespace has its own lb-default');
  await c.buildBusybox();
  await c.launch('c1');
  ping(c, 'c1', 'c1');

  // b stops, starts again, removes its guests and its network, and stops: a's guests never notice
  await b.stop();
  ping(a, 'a1', 'a2');
  await b.start();
  ping(b, 'b1', 'b2');
  for (const g of ['b1', 'b2']) assert.equal(b.lodge(['delete', '--force', g]).code, 0);
  assert.equal(b.lodge(['network', 'delete', 'default']).code, 0);
  await b.stop();
  ping(a, 'a1', 'a2');
  assert.match(link(a, 'lb-default'), new RegExp(`inet ${aNet.gateway}/`));
  assert.equal(a.inNetns(['ip', 'link', 'show', `lb-defau-${b.instance}`]).code, 1, "b's bridge went with its network");
  ping(c, 'c1', 'c1');
});

test("a bridge deleted by hand comes back at lodged's next start with its running guests on it", async () => {
  await a.stop();
  assert.equal(a.inNetns(['ip', 'link', 'del', 'lb-default']).code, 0);
  await a.start();
  ping(a, 'a1', 'a2');
});

test('a launch that lodged did not finish is removed at the next start with its name in DNS', async () => {
  await a.kill9();
  const db = new Database(path.join(a.stateDir, 'lodge.db'));
  const subnet = (db.prepare("SELECT subnet FROM networks WHERE name = 'default'").pluck().get() as string).replace(/\.0\/24$/, '');
  const ghost = db.prepare("INSERT INTO guests (name, kind, image, state, limits, created_at) VALUES ('ghost', 'ct', 'busybox', 'creating', '{}', '2026-01-01T00:00:00Z')").run();
  db.prepare("INSERT INTO nics (guest_id, idx, network, mac, address) VALUES (?, 0, 'default', '02:00:00:00:0a:0b', ?)").run(ghost.lastInsertRowid, `${subnet}.200`);
  db.close();
  await a.start();
  assert.match(a.stderr, /removing ghost: its launch was interrupted/);
  const looked = exec(a, 'a1', 'nslookup', 'ghost');
  assert.notEqual(looked.code, 0, `ghost is gone from DNS: ${looked.stdout}`);
  assert.doesNotMatch(a.inNetns(['nft', 'list', 'table', 'bridge', `lodge-${a.instance}`]).stdout, /02:00:00:00:0a:0b/);
  ping(a, 'a1', 'a2');
});
