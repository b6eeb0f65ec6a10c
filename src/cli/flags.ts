/**
 * @module Checks of flag values, done before any request, with the flag named.
 */
import { LodgeError } from '../api/errors.js';
import { autonomicPolicies, priorities, type AutonomicPolicy, type Limits, type Priority } from '../api/guests.js';
import { parseSize } from '../api/sizes.js';

export interface LimitFlags {
  cpu?: string;
  memory?: string;
  memoryFloor?: string;
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
  for (const [key, flag] of [['memory', 'memory'], ['memoryFloor', 'memory-floor'], ['swap', 'swap'], ['disk', 'disk']] as const) {
    const v = flags[key];
    if (v === undefined) continue;
    if (parseSize(v) === undefined) bad(flag, v, 'is not a size (use e.g. 256M or 1G)');
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

/** --autonomic on|off. */
export function autonomicFromFlag(value: string | undefined): AutonomicPolicy | undefined {
  if (value === undefined) return undefined;
  if (!(autonomicPolicies as readonly string[]).includes(value)) bad('autonomic', value, `is not ${autonomicPolicies.join(' or ')}`);
  return value as AutonomicPolicy;
}

/** --autostart on|off (lodge set; launch takes --autostart alone). */
export function autostartFromFlag(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value !== 'on' && value !== 'off') bad('autostart', value, 'is not on or off');
  return value === 'on';
}

/** --autostart-order N: a whole number from 0 to 1000. */
export function autostartOrderFromFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 1000) bad('autostart-order', value, 'is not a whole number from 0 to 1000');
  return n;
}

/** --priority low|normal|high. */
export function priorityFromFlag(value: string | undefined): Priority | undefined {
  if (value === undefined) return undefined;
  if (!(priorities as readonly string[]).includes(value)) bad('priority', value, `is not ${priorities.join(', ')}`);
  return value as Priority;
}
