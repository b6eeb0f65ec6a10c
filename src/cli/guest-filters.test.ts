import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseGuestFilters } from './guest-filters.js';

test('key=value filters and a bare word for the name', () => {
  assert.deepEqual(parseGuestFilters([]), {});
  assert.deepEqual(parseGuestFilters(['web*', 'kind=ct', 'state=running', 'image=debian/12', 'network=default']), {
    name: 'web*',
    kind: 'ct',
    state: 'running',
    image: 'debian/12',
    network: 'default',
  });
  assert.deepEqual(parseGuestFilters(['name=db']), { name: 'db' });
});

test('a wrong key, value or a key twice is refused with the filter named', () => {
  assert.throws(() => parseGuestFilters(['colour=red']), /filter "colour=red": colour is not name, kind, state, image, network/);
  assert.throws(() => parseGuestFilters(['kind=lxc']), /filter "kind=lxc": kind is ct, vm, pv/);
  assert.throws(() => parseGuestFilters(['state=up']), /filter "state=up": state is creating, stopped/);
  assert.throws(() => parseGuestFilters(['image=']), /image has no value/);
  assert.throws(() => parseGuestFilters(['web', 'db']), /filter "db": name is given twice \(name=web\)/);
});
