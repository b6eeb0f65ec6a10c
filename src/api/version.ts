/**
 * @module Lodge's version, from package.json, read when first asked for.
 */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function lodgeVersion(): string {
  cached ??= (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cached;
}
