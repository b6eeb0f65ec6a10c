import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firewallRules } from './firewall.js';

const rules = firewallRules({
  table: 'lodge-abc123',
  networks: [
    { bridge: 'lb-a', subnet: '10.1.0.0/24', nat: false },
    { bridge: 'lb-b', subnet: '10.2.0.0/24', nat: true },
  ],
  nics: [{ hostDevice: 'lvx1x0', mac: '02:00:00:00:00:01', address: '10.1.0.2' }],
  forwards: [{ proto: 'tcp', hostPort: 8080, guestAddress: '10.1.0.2', guestPort: 80 }],
});

test('nothing is routed out of an isolated network, port forwards aside', () => {
  assert.match(rules, /iifname "lb-a" oifname != "lb-a" ct status != dnat drop/);
  assert.doesNotMatch(rules, /ip saddr 10\.1\.0\.0\/24 .*masquerade/);
});

test('a NAT network is routed out masqueraded, but never into another Lodge network', () => {
  assert.match(rules, /iifname "lb-b" oifname "lb-\*" oifname != "lb-b" ct status != dnat drop/);
  assert.doesNotMatch(rules, /iifname "lb-b" oifname != "lb-b" ct status != dnat drop/);
  assert.match(rules, /type nat hook postrouting priority srcnat;[^}]*ip saddr 10\.2\.0\.0\/24 oifname != "lb-b" masquerade/);
});

test('nothing from outside opens a connection into any network but a port forward', () => {
  for (const b of ['lb-a', 'lb-b']) assert.match(rules, new RegExp(`oifname "${b}" iifname != "${b}" ct state != \\{ established, related \\} ct status != dnat drop`));
});

test('a NIC sends only with its own MAC and address', () => {
  assert.match(rules, /iifname "lvx1x0" ether saddr != 02:00:00:00:00:01 drop/);
  assert.match(rules, /iifname "lvx1x0" ether type ip ip saddr != \{ 10\.1\.0\.2, 0\.0\.0\.0 \} drop/);
  assert.match(rules, /iifname "lvx1x0" ether type arp arp saddr ip != \{ 10\.1\.0\.2, 0\.0\.0\.0 \} drop/);
});

test('a port forward rewrites connections to a host port, from outside and from the host', () => {
  assert.equal(rules.match(/fib daddr type local tcp dport 8080 dnat ip to 10\.1\.0\.2:80/g)?.length, 2);
});

test("the lodged's own tables are replaced whole, and removed when it has no network", () => {
  assert.match(rules, /^table inet lodge-abc123 \{\}\ndelete table inet lodge-abc123\ntable inet lodge-abc123 \{/);
  assert.match(rules, /table bridge lodge-abc123 \{\}\ndelete table bridge lodge-abc123\ntable bridge lodge-abc123 \{/);
  assert.equal(
    firewallRules({ table: 'lodge-abc123', networks: [], nics: [], forwards: [] }),
    'table inet lodge-abc123 {}\ndelete table inet lodge-abc123\ntable bridge lodge-abc123 {}\ndelete table bridge lodge-abc123\n',
  );
});
