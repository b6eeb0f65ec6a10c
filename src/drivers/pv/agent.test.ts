import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { requestScript } from './agent.js';

test('a request script quotes every word, whatever it holds', () => {
  const script = requestScript({ command: ['sh', '-c', `echo "it's $HOME"; echo '$x'`], env: { A: "b'c" }, cwd: '/tmp' });
  assert.equal(script, `cd '/tmp' || exit 127\nexport A='b'\\''c'\nexec 'sh' '-c' 'echo "it'\\''s $HOME"; echo '\\''$x'\\'''\n`);
  // and a real shell reads it back as the same words
  const out = execFileSync('sh', ['-c', requestScript({ command: ['printf', '%s|', 'a b', "c'd", '$e', '"f"'] })]).toString();
  assert.equal(out, `a b|c'd|$e|"f"|`);
});
