/**
 * @module The filters of `lodge list`, as incus list takes them: KEY=VALUE for kind, state,
 * image, network and name, and a bare word for the name (a glob with * or ?, else a part
 * of the name). Checked here, so a typo is named before any request.
 */
import { LodgeError } from '../api/errors.js';
import { guestKinds } from '../api/common.js';
import { guestStates, type GuestListQuery } from '../api/guests.js';

export const filterKeys = ['name', 'kind', 'state', 'image', 'network'] as const;

export function parseGuestFilters(args: string[]): GuestListQuery {
  const query: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    const key = eq < 0 ? 'name' : arg.slice(0, eq);
    const value = eq < 0 ? arg : arg.slice(eq + 1);
    if (!(filterKeys as readonly string[]).includes(key)) throw new LodgeError('BAD_REQUEST', `filter "${arg}": ${key} is not ${filterKeys.join(', ')}`);
    if (value === '') throw new LodgeError('BAD_REQUEST', `filter "${arg}": ${key} has no value`);
    if (query[key] !== undefined) throw new LodgeError('BAD_REQUEST', `filter "${arg}": ${key} is given twice (${key}=${query[key]}); a list matches every filter, and a guest has one ${key}`);
    if (key === 'kind' && !(guestKinds as readonly string[]).includes(value)) throw new LodgeError('BAD_REQUEST', `filter "${arg}": kind is ${guestKinds.join(', ')}`);
    if (key === 'state' && !(guestStates as readonly string[]).includes(value)) throw new LodgeError('BAD_REQUEST', `filter "${arg}": state is ${guestStates.join(', ')}`);
    query[key] = value;
  }
  return query as GuestListQuery;
}
