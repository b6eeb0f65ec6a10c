/**
 * The layers are the architecture: this reads every import under src/ and fails when
 * a layer reaches where it may not (ARCHITECTURE.md, Rules of the house).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../../src', import.meta.url));

/** Which layers each layer may import (besides itself). */
const allowed: Record<string, readonly string[]> = {
  api: [],
  lib: [],
  client: ['api'],
  cli: ['client', 'api'],
  web: ['client', 'api'],
  host: ['api', 'lib'],
  images: ['api', 'host', 'lib'],
  storage: ['api', 'host', 'lib'],
  network: ['api', 'host', 'lib'],
  drivers: ['api', 'host', 'lib', 'storage', 'images', 'network'],
  // core runs the loop: it feeds autonomic/'s pure decisions with real guests and acts on them
  core: ['api', 'autonomic', 'drivers', 'images', 'storage', 'network', 'host', 'lib'],
  daemon: ['api', 'core', 'drivers', 'images', 'storage', 'network', 'host', 'lib'],
  // the planner, its simulator and the loop's decisions are pure: no engine, no clock of their own
  autonomic: ['api', 'lib'],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'/gm)].map((m) => path.resolve(path.dirname(file), m[1]!));
}

const layerOf = (file: string) => path.relative(src, file).split(path.sep)[0]!;

test('every import stays within what its layer may reach', () => {
  const violations: string[] = [];
  for (const file of sources(src)) {
    const from = layerOf(file);
    if (!(from in allowed)) continue; // top-level files such as this test
    for (const target of imports(file)) {
      const to = layerOf(target);
      if (to === from) continue;
      if (!allowed[from]!.includes(to)) violations.push(`${path.relative(src, file)} imports ${path.relative(src, target)}`);
    }
  }
  assert.deepEqual(violations, []);
});

test('drivers never import each other or the database', () => {
  const violations: string[] = [];
  for (const file of sources(path.join(src, 'drivers'))) {
    const kind = path.relative(path.join(src, 'drivers'), file).split(path.sep)[0]!;
    for (const target of imports(file)) {
      const rel = path.relative(path.join(src, 'drivers'), target).split(path.sep);
      if (rel.length > 1 && !rel[0]!.startsWith('..') && rel[0] !== kind && ['ct', 'vm', 'pv'].includes(kind)) violations.push(`${file} imports ${target}`);
    }
    if (/better-sqlite3|core\/store/.test(readFileSync(file, 'utf8'))) violations.push(`${file} reaches the database`);
  }
  assert.deepEqual(violations, []);
});

test('the layer check sees imports at all', () => {
  // guards the checks above against a regex that silently matches nothing
  assert.ok(imports(path.join(src, 'cli/program.ts')).some((p) => p.includes('/client/')));
});

test('the web console takes only types from api/ and no Node modules: what it imports is what the browser downloads', () => {
  const violations = sources(path.join(src, 'web')).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/^\s*import\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm)]
      .filter(([, typeOnly, from]) => from!.startsWith('node:') || (!typeOnly && layerOf(path.resolve(path.dirname(file), from!)) === 'api' && from!.startsWith('.')))
      .map(([line]) => `${path.relative(src, file)}: ${line!.trim()}`),
  );
  assert.deepEqual(violations, []);
});
