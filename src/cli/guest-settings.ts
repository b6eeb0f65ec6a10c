/**
 * @module A guest's settings as `lodge config show` prints them and `lodge config edit`
 * reads them back: what was changed becomes a PATCH, what cannot change is refused with
 * the field named, before any request.
 */
import { LodgeError } from '../api/errors.js';
import { autonomicPolicies, priorities, restartPolicies, type Guest, type GuestPatch, type Limits } from '../api/guests.js';
import { limitsFromFlags } from './flags.js';

export interface GuestSettings {
  name: string;
  kind: string;
  image: string;
  options: Guest['options'];
  networks: string[];
  limits: Limits;
  restart: string;
  autonomic: string;
  priority: string;
  autostart: boolean;
  autostartOrder: number;
}

/** What a user may change in an edit; the rest is set at launch. */
const changeable = ['limits', 'restart', 'autonomic', 'priority', 'autostart', 'autostartOrder'] as const;
/** Set at launch, with what to do instead of editing it. */
const fixed: Record<Exclude<keyof GuestSettings, (typeof changeable)[number]>, string> = {
  name: 'changed by lodge rename',
  kind: 'set at launch',
  image: 'set at launch',
  options: 'set at launch',
  networks: 'set at launch',
};
const limitKeys = ['cpu', 'memory', 'memoryFloor', 'swap', 'processes', 'disk'] as const;

export function settingsOf(g: Guest): GuestSettings {
  return { name: g.name, kind: g.kind, image: g.image, options: g.options, networks: (g.nics ?? []).map((n) => n.network), limits: g.limits, restart: g.restart, autonomic: g.autonomic, priority: g.priority, autostart: g.autostart, autostartOrder: g.autostartOrder };
}

const bad = (field: string, why: string): never => {
  throw new LodgeError('BAD_REQUEST', `${field}: ${why}; nothing was changed`);
};
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The PATCH an edited copy of `before` asks for, or undefined when nothing changed. */
export function patchFrom(before: GuestSettings, edited: unknown): GuestPatch | undefined {
  if (!isObject(edited)) return bad('the settings', 'are not a mapping of fields (name, kind, limits, ...)');
  for (const key of Object.keys(edited)) if (!Object.hasOwn(before, key)) bad(key, `is not a setting (${Object.keys(before).join(', ')})`);
  for (const [key, why] of Object.entries(fixed)) {
    if (!same(edited[key], before[key as keyof GuestSettings])) bad(key, `cannot change here: it is ${why}`);
  }
  const patch: GuestPatch = {};
  const limits = edited.limits ?? {};
  if (!isObject(limits)) return bad('limits', `is not a mapping (${limitKeys.join(', ')})`);
  for (const key of Object.keys(limits)) if (!(limitKeys as readonly string[]).includes(key)) bad(`limits.${key}`, `is not a limit (${limitKeys.join(', ')})`);
  for (const key of limitKeys) {
    const was = before.limits[key];
    const now = limits[key];
    if (now === undefined || now === null) {
      if (was !== undefined) bad(`limits.${key}`, 'a limit cannot be removed, only changed');
      continue;
    }
    if (typeof now !== 'string' && typeof now !== 'number') bad(`limits.${key}`, `${JSON.stringify(now)} is not a value`);
    if (same(now, was)) continue;
    if (key === 'disk') bad('limits.disk', 'the disk size is set at launch and cannot change');
    // the flags' checks, with the field named as it is here
    try {
      Object.assign(((patch.limits ??= {})), limitsFromFlags({ [key]: String(now) }));
    } catch (e) {
      bad(`limits.${key}`, (e as Error).message.replace(/^--\w+: /, ''));
    }
  }
  const restart = edited.restart;
  if (!same(restart, before.restart)) {
    if (typeof restart !== 'string' || !(restartPolicies as readonly string[]).includes(restart)) bad('restart', `${JSON.stringify(restart)} is not ${restartPolicies.join(', ')}`);
    patch.restart = restart as GuestPatch['restart'];
  }
  const autonomic = edited.autonomic;
  if (!same(autonomic, before.autonomic)) {
    if (typeof autonomic !== 'string' || !(autonomicPolicies as readonly string[]).includes(autonomic)) bad('autonomic', `${JSON.stringify(autonomic)} is not ${autonomicPolicies.join(' or ')}`);
    patch.autonomic = autonomic as GuestPatch['autonomic'];
  }
  const priority = edited.priority;
  if (!same(priority, before.priority)) {
    if (typeof priority !== 'string' || !(priorities as readonly string[]).includes(priority)) bad('priority', `${JSON.stringify(priority)} is not ${priorities.join(', ')}`);
    patch.priority = priority as GuestPatch['priority'];
  }
  if (!same(edited.autostart, before.autostart)) {
    if (typeof edited.autostart !== 'boolean') bad('autostart', `${JSON.stringify(edited.autostart)} is not true or false`);
    patch.autostart = edited.autostart as boolean;
  }
  const order = edited.autostartOrder;
  if (!same(order, before.autostartOrder)) {
    if (typeof order !== 'number' || !Number.isInteger(order) || order < 0 || order > 1000) bad('autostartOrder', `${JSON.stringify(order)} is not a whole number from 0 to 1000`);
    patch.autostartOrder = order as number;
  }
  return Object.keys(patch).length ? patch : undefined;
}

/** One line a change: "memory 512M: changed", or "cpu 2: at next start (why)" for what the running engine takes later. */
export function changeLines(patch: GuestPatch, answer: Guest): string[] {
  const later = new Map((answer.atNextStart ?? []).map((l) => [l.limit, l.why]));
  const lines = Object.entries(patch.limits ?? {}).map(([key, value]) => {
    const why = later.get(key);
    return why ? `${key} ${value}: at next start (${why})` : `${key} ${value}: changed`;
  });
  if (patch.restart) lines.push(`restart ${patch.restart}: changed`);
  if (patch.autonomic) lines.push(`autonomic ${patch.autonomic}: changed`);
  if (patch.priority) lines.push(`priority ${patch.priority}: changed`);
  if (patch.autostart !== undefined) lines.push(`autostart ${patch.autostart ? 'on' : 'off'}: changed`);
  if (patch.autostartOrder !== undefined) lines.push(`autostart order ${patch.autostartOrder}: changed`);
  return lines;
}
