/**
 * lodged's --listen, --tls-cert and --tls-key, checked before anything is made.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpsOptions, parseListen } from './https-listener.js';

test('--listen takes an IPv4 address, or an IPv6 one in brackets, and a port', () => {
  assert.deepEqual(parseListen('127.0.0.1:8443'), { address: '127.0.0.1', port: 8443 });
  assert.deepEqual(parseListen('0.0.0.0:0'), { address: '0.0.0.0', port: 0 });
  assert.deepEqual(parseListen('[::1]:8443'), { address: '::1', port: 8443 });
  assert.deepEqual(parseListen('[::]:443'), { address: '::', port: 443 });
  for (const bad of ['8443', 'localhost:8443', '127.0.0.1', '127.0.0.1:', '1.2.3:80', '::1:8443', '[127.0.0.1]:80', '[::1]8443', '127.0.0.1:84a3', ' 127.0.0.1:8443']) {
    assert.throws(() => parseListen(bad), /--listen: .* is not ADDRESS:PORT with an IP address/, bad);
  }
  assert.throws(() => parseListen('127.0.0.1:65536'), /port 65536 is over 65535/);
});

test('a certificate and its key go together, and only with --listen', () => {
  assert.equal(httpsOptions({}), undefined);
  assert.deepEqual(httpsOptions({ listen: '127.0.0.1:8443' }), { address: '127.0.0.1', port: 8443 });
  assert.throws(() => httpsOptions({ 'tls-cert': '/etc/hostname', 'tls-key': '/etc/hostname' }), /are for --listen/);
  assert.throws(() => httpsOptions({ listen: '127.0.0.1:8443', 'tls-cert': '/etc/hostname' }), /go together/);
  assert.throws(() => httpsOptions({ listen: '127.0.0.1:8443', 'tls-cert': '/nonexistent.crt', 'tls-key': '/etc/hostname' }), /--tls-cert: \/nonexistent\.crt does not exist/);
  assert.deepEqual(httpsOptions({ listen: '127.0.0.1:8443', 'tls-cert': '/etc/hostname', 'tls-key': '/etc/hostname' })?.certificate, { cert: '/etc/hostname', key: '/etc/hostname' });
});
