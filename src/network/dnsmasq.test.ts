import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dnsmasqConfig } from './dnsmasq.js';

const network = { bridge: 'lb-n1', gateway: '10.50.0.1', firstAddress: '10.50.0.2', lastAddress: '10.50.0.254', netmask: '255.255.255.0', dir: '/s/networks/n1' };

test('dnsmasq answers on its bridge only, for the guests only: no upstream, no host files', () => {
  const conf = dnsmasqConfig(network).split('\n');
  for (const line of ['interface=lb-n1', 'bind-interfaces', 'no-resolv', 'no-hosts', 'local=/lodge/', 'addn-hosts=/s/networks/n1/hosts', 'dhcp-range=10.50.0.2,10.50.0.254,255.255.255.0,1h', 'dhcp-option=option:router,10.50.0.1', 'pid-file=/s/networks/n1/dnsmasq.pid']) {
    assert.ok(conf.includes(line), line);
  }
  assert.ok(!conf.some((l) => l.startsWith('server=') || l.startsWith('resolv-file=')), 'nothing is forwarded upstream');
});

test('a network that reaches the uplink forwards other names to the given resolvers, still answering .lodge itself', () => {
  const conf = dnsmasqConfig({ ...network, upstream: '/etc/resolv.conf' }).split('\n');
  assert.ok(conf.includes('resolv-file=/etc/resolv.conf'));
  assert.ok(!conf.includes('no-resolv'));
  assert.ok(conf.includes('local=/lodge/'), 'guest names never go upstream');
  assert.ok(conf.includes('no-hosts'));
});
