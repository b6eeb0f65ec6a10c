import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Spawner } from './spawner.js';

// the real helper, built by npm run build beside dist/src
const binary = fileURLToPath(new URL('../../shim/lodge-spawner', import.meta.url));

test('lodge-spawner runs programs concurrently, with their input, output, exit status and signals', async () => {
  assert.ok(existsSync(binary), `${binary} is missing: npm run build makes it`);
  const s = new Spawner(binary);
  const [echo, cat, fail, killed, missing] = await Promise.all([
    s.run(['sh', '-c', 'echo out; echo err >&2'], undefined, 5000),
    s.run(['cat'], 'x'.repeat(300_000), 5000),
    s.run(['sh', '-c', 'exit 3'], undefined, 5000),
    s.run(['sleep', '10'], undefined, 200),
    s.run(['/no/such/program'], undefined, 5000),
  ]);
  assert.deepEqual(echo, { code: 0, stdout: 'out\n', stderr: 'err\n' });
  assert.equal(cat.stdout.length, 300_000, 'input larger than a pipe goes through whole');
  assert.equal(fail.code, 3);
  assert.deepEqual([killed.code, killed.signal], [-1, 'SIGKILL'], 'the timeout kills it');
  assert.equal(missing.spawnError, 'ENOENT');
  s.close();
});
