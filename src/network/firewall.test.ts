import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firewallRules, nicElements } from './firewall.js';

const rules = firewallRules({
  table: 'lodge-abc123',
  networks: [
    { bridge: 'lb-a', subnet: '10.1.0.0/24', nat: false },
    { bridge: 'lb-b', subnet: '10.2.0.0/24', nat: true },
  ],
  nicPrefix: 'lvabc123',
  nics: [{ hostDevice: 'lvabc1231x0', mac: '02:00:00:00:00:01', address: '10.1.0.2' }],
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

test("a NIC of this lodged sends only with its own pair of MAC and address, looked up in two sets", () => {
  assert.match(rules, /iifname "lvabc123\*" iifname \. ether saddr != @nic_mac drop/);
  assert.match(rules, /iifname "lvabc123\*" ether type ip ip saddr != 0\.0\.0\.0 iifname \. ip saddr != @nic_ip drop/);
  assert.match(rules, /iifname "lvabc123\*" ether type arp arp saddr ip != 0\.0\.0\.0 iifname \. arp saddr ip != @nic_ip drop/);
  assert.match(rules, /add element bridge lodge-abc123 nic_mac \{ "lvabc1231x0" \. 02:00:00:00:00:01 \}/);
  assert.match(rules, /add element bridge lodge-abc123 nic_ip \{ "lvabc1231x0" \. 10\.1\.0\.2 \}/);
});

test('a guest coming or going changes set elements only; removing tolerates an element already gone', () => {
  const nics = [
    { hostDevice: 'lvabc1232x0', mac: '02:00:00:00:00:02', address: '10.1.0.3' },
    { hostDevice: 'lvabc1232x1', mac: '02:00:00:00:00:03', address: '10.2.0.3' },
  ];
  assert.deepEqual(nicElements('lodge-abc123', nics, 'add'), [
    'add chain inet lodge-abc123 forward',
    'add chain bridge lodge-abc123 prerouting',
    'add element bridge lodge-abc123 nic_mac { "lvabc1232x0" . 02:00:00:00:00:02, "lvabc1232x1" . 02:00:00:00:00:03 }',
    'add element bridge lodge-abc123 nic_ip { "lvabc1232x0" . 10.1.0.3, "lvabc1232x1" . 10.2.0.3 }',
  ]);
  const remove = nicElements('lodge-abc123', nics, 'delete');
  assert.equal(remove.length, 6);
  assert.match(remove[2]!, /^add element .* nic_mac /);
  assert.match(remove[3]!, /^delete element .* nic_mac /);
  assert.deepEqual(nicElements('lodge-abc123', [], 'add'), []);
});

test('a port forward rewrites connections to a host port, from outside and from the host but not through loopback', () => {
  assert.equal(rules.match(/fib daddr type local tcp dport 8080 dnat ip to 10\.1\.0\.2:80/g)?.length, 2);
  assert.match(rules, /chain output \{\n.*\n {4}ip daddr != 127\.0\.0\.0\/8 fib daddr type local tcp dport 8080 dnat/);
});

test("the lodged's own tables are replaced whole, and removed when it has no network", () => {
  assert.match(rules, /^table inet lodge-abc123 \{\}\ndelete table inet lodge-abc123\ntable inet lodge-abc123 \{/);
  assert.match(rules, /table bridge lodge-abc123 \{\}\ndelete table bridge lodge-abc123\ntable bridge lodge-abc123 \{/);
  assert.equal(
    firewallRules({ table: 'lodge-abc123', networks: [], nicPrefix: 'lvabc123', nics: [], forwards: [] }),
    'table inet lodge-abc123 {}\ndelete table inet lodge-abc123\ntable bridge lodge-abc123 {}\ndelete table bridge lodge-abc123\n',
  );
});
