/**
 * @module How the CLI prints: tables for people, JSON for scripts, and one clear line
 * for an error.
 */
import { LodgeError } from '../api/errors.js';

export type Format = 'table' | 'json';

export function parseFormat(value: string): Format {
  if (value !== 'table' && value !== 'json') throw new LodgeError('BAD_REQUEST', `--format: "${value}" is not table or json`);
  return value;
}

/** A flag's whole number. */
export function count(flag: string, text: string): number {
  if (!/^\d+$/.test(text)) throw new LodgeError('BAD_REQUEST', `${flag}: "${text}" is not a count`);
  return Number(text);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  process.stdout.write(`${[line(headers), ...rows.map(line)].join('\n')}\n`);
}

/** Key: value lines, for `info`. */
export function printFields(fields: Array<[string, string | number | undefined]>): void {
  const width = Math.max(...fields.map(([k]) => k.length));
  for (const [k, v] of fields) if (v !== undefined && v !== '') process.stdout.write(`${`${k}:`.padEnd(width + 2)}${v}\n`);
}

export function describeError(e: unknown): string {
  if (e instanceof LodgeError) return e.describe();
  if (e instanceof Error) return e.message;
  return String(e);
}
