/**
 * Error codes are a contract: docs/errors.md lists every code of the registry with its
 * HTTP status and meaning, and this fails when the two drift. `UPDATE_DOCS=1` rewrites it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errorCodes, LodgeError } from './errors.js';

const docFile = fileURLToPath(new URL('../../../docs/errors.md', import.meta.url));

test('docs/errors.md lists every error code', () => {
  const rows = Object.entries(errorCodes).map(([code, e]) => `| \`${code}\` | ${e.status} | ${e.description} |`);
  const text = `# Lodge error codes\n\nEvery error the API answers is \`{"error": {"code", "message", "cause"?}}\` with one of these codes.\nGenerated from src/api/errors.ts by its test.\n\n| code | HTTP status | meaning |\n| --- | --- | --- |\n${rows.join('\n')}\n`;
  if (process.env.UPDATE_DOCS) writeFileSync(docFile, text);
  assert.equal(readFileSync(docFile, 'utf8'), text, 'docs/errors.md is stale: run UPDATE_DOCS=1 node --test dist/src/api/errors.test.js');
});

test('an error carries its status, and its causes read as one line', () => {
  const e = new LodgeError('ENGINE_FAILED', 'launching web1 failed', { cause: new Error('runc create failed', { cause: new Error('permission denied') }) });
  assert.equal(e.status, 500);
  assert.equal(e.describe(), 'launching web1 failed: runc create failed: permission denied');
  assert.deepEqual(e.toBody(), { error: { code: 'ENGINE_FAILED', message: 'launching web1 failed', cause: 'runc create failed: permission denied' } });
});

test('an answer never quotes what a parser failed on', () => {
  let parseError: unknown;
  try {
    JSON.parse('root:x:0:0:secret');
  } catch (e) {
    parseError = e;
  }
  const e = new LodgeError('ENGINE_FAILED', 'reading machine.json of web1 failed', { cause: new Error('bad file', { cause: parseError }) });
  assert.deepEqual(e.toBody(), { error: { code: 'ENGINE_FAILED', message: 'reading machine.json of web1 failed', cause: 'bad file: the content could not be parsed' } });
  assert.match(e.describe(), /root:x/, 'the log keeps the whole chain');
});
