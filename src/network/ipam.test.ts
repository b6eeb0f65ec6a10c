import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIp, formatSubnet, freeSubnet, gateway, nextFree, overlaps, parseIp, parseSubnet } from './ipam.js';

test('subnets parse, and a host address or a bad prefix is refused with a hint', () => {
  assert.deepEqual(formatSubnet(parseSubnet('10.20.0.0/24')), '10.20.0.0/24');
  assert.throws(() => parseSubnet('10.20.0.5/24'), /subnet: 10\.20\.0\.5\/24 is not a network address \(did you mean 10\.20\.0\.0\/24\?\)/);
  assert.throws(() => parseSubnet('10.20.0.0/31'), /prefix length 8 to 30/);
  assert.throws(() => parseSubnet('300.1.1.0/24'), /not an IPv4 subnet/);
  assert.equal(parseIp('010.1.1.1'), undefined);
});

test('overlap, gateway, and the next free guest address', () => {
  assert.ok(overlaps(parseSubnet('10.0.0.0/16'), parseSubnet('10.0.5.0/24')));
  assert.ok(!overlaps(parseSubnet('10.0.0.0/24'), parseSubnet('10.0.1.0/24')));
  const s = parseSubnet('192.168.7.0/29');
  assert.equal(formatIp(gateway(s)), '192.168.7.1');
  assert.equal(formatIp(nextFree(s, new Set())!), '192.168.7.2');
  const used = new Set([2, 3, 4, 5, 6].map((h) => s.base + h));
  assert.equal(nextFree(s, used), undefined, 'the broadcast address is never given out');
});

test('a free /24 avoids what is taken', () => {
  const taken = [parseSubnet('10.0.0.0/8')];
  assert.equal(freeSubnet(taken, 0), undefined);
  assert.equal(formatSubnet(freeSubnet([parseSubnet('10.0.0.0/23')], 0)!), '10.0.2.0/24');
});
