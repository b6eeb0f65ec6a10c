/**
 * @module Checks of flag values, done before any request, with the flag named.
 */
import { LodgeError } from '../api/errors.js';
import type { Limits } from '../api/guests.js';
import { parseSize } from '../api/sizes.js';

export interface LimitFlags {
  cpu?: string;
  memory?: string;
  swap?: string;
  processes?: string;
  disk?: string;
}

function bad(flag: string, value: string, rule: string): never {
  throw new LodgeError('BAD_REQUEST', `--${flag}: "${value}" ${rule}`);
}

export function limitsFromFlags(flags: LimitFlags): Limits {
  const limits: Limits = {};
  if (flags.cpu !== undefined) {
    const n = Number(flags.cpu);
    if (!(n > 0)) bad('cpu', flags.cpu, 'is not a positive number of CPUs');
    limits.cpu = n;
  }
  for (const key of ['memory', 'swap', 'disk'] as const) {
    const v = flags[key];
    if (v === undefined) continue;
    if (parseSize(v) === undefined) bad(key, v, 'is not a size (use e.g. 256M or 1G)');
    limits[key] = v;
  }
  if (flags.processes !== undefined) {
    const n = Number(flags.processes);
    if (!Number.isInteger(n) || n < 1) bad('processes', flags.processes, 'is not a whole number of at least 1');
    limits.processes = n;
  }
  return limits;
}

export function seconds(flag: string, value: string): number {
  const n = Number(value);
  if (!(n >= 0)) bad(flag, value, 'is not a number of seconds');
  return n;
}
