/**
 * What an administrator does every hour, through the CLI, on busybox containers (cheap):
 * a list filtered and with chosen columns, its addresses in JSON too.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Guest } from '../../src/api/guests.js';
import { TestDaemon } from './harness.js';

const d = new TestDaemon({ netns: true });

before(async () => {
  await d.start();
  await d.buildBusybox();
  await Promise.all([d.launch('web1'), d.launch('web2'), d.launch('db1', { start: false, networks: [] })]);
});

after(() => d.cleanup());

/** The CLI, which must succeed. */
function lodge(...args: string[]): string {
  const r = d.lodge(args);
  assert.equal(r.code, 0, `lodge ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('lodge list filters by name, kind, state, image and network, shows addresses and the columns chosen', async () => {
  const web1 = (await d.client.guests.get('web1')).nics![0]!.address.split('/')[0]!;
  const table = lodge('list', 'web*', 'state=running', '-c', 'n4N').trim().split('\n');
  assert.deepEqual(table[0]!.split(/\s+/), ['NAME', 'IPV4', 'NETWORKS']);
  assert.equal(table.length, 3);
  assert.match(table[1]!, new RegExp(`^web1\\s+${web1.replace(/\./g, '\\.')} \\(eth0\\)\\s+default$`));

  const json = JSON.parse(lodge('list', 'network=default', 'kind=ct', 'image=busybox', '--format', 'json')) as Guest[];
  assert.deepEqual(json.map((g) => g.name), ['web1', 'web2']);
  assert.equal(json[0]!.nics![0]!.address.split('/')[0], web1);

  assert.deepEqual(lodge('list', 'db', '-c', 'name,state').trim().split('\n').slice(1).map((l) => l.split(/\s+/)), [['db1', 'stopped']]);
  assert.equal(lodge('list', 'state=paused', '-c', 'n').trim(), 'NAME');

  const bad = d.lodge(['list', 'kind=lxc']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /filter "kind=lxc": kind is ct, vm, pv/);
  const column = d.lodge(['list', '-c', 'nz']);
  assert.match(column.stderr, /--columns: "z" is not a column/);
  // the API refuses a wrong filter too, naming it
  await assert.rejects(d.client.guests.list({ state: 'up' as 'running' }), /state/);
});
