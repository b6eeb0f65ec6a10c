/**
 * @module The columns of `lodge list`, chosen with -c as incus list chooses them: letters
 * run together (-c nsi4) or names with commas (-c name,state,ipv4).
 */
import { LodgeError } from '../api/errors.js';
import type { Guest } from '../api/guests.js';

export const limitsText = (g: Guest) =>
  [g.limits.cpu && `cpu ${g.limits.cpu}`, g.limits.memory && `mem ${g.limits.memory}`, g.limits.memoryFloor && `floor ${g.limits.memoryFloor}`, g.limits.processes && `procs ${g.limits.processes}`, g.limits.disk && `disk ${g.limits.disk}`].filter(Boolean).join(', ');

/** A guest's addresses, as `10.0.0.2 (eth0)`: Lodge's networks are IPv4, so these are all it has. */
const addresses = (g: Guest) => (g.nics ?? []).map((n) => `${n.address.split('/')[0]} (${n.name})`).join(', ');

export interface GuestColumn {
  letter: string;
  name: string;
  header: string;
  cell: (g: Guest) => string;
}

export const guestColumns: readonly GuestColumn[] = [
  { letter: 'n', name: 'name', header: 'NAME', cell: (g) => g.name },
  { letter: 't', name: 'kind', header: 'KIND', cell: (g) => g.kind },
  { letter: 's', name: 'state', header: 'STATE', cell: (g) => g.state },
  { letter: 'i', name: 'image', header: 'IMAGE', cell: (g) => g.image },
  { letter: '4', name: 'ipv4', header: 'IPV4', cell: addresses },
  { letter: 'N', name: 'networks', header: 'NETWORKS', cell: (g) => [...new Set((g.nics ?? []).map((n) => n.network))].join(', ') },
  { letter: 'l', name: 'limits', header: 'LIMITS', cell: limitsText },
  { letter: 'r', name: 'restart', header: 'RESTART', cell: (g) => g.restart },
  { letter: 'R', name: 'reason', header: 'REASON', cell: (g) => g.stateReason ?? '' },
  { letter: 'p', name: 'pool', header: 'POOL', cell: (g) => g.root?.pool ?? '' },
  { letter: 'c', name: 'created', header: 'CREATED', cell: (g) => g.createdAt },
];

export const defaultGuestColumns = 'ntsi4l';

/** The help's list of columns: one line each, letter and name. */
export const guestColumnsHelp = guestColumns.map((c) => `  ${c.letter}  ${c.name}`).join('\n');

export function parseGuestColumns(spec: string): GuestColumn[] {
  const byName = (name: string) => guestColumns.find((c) => c.name === name.toLowerCase());
  // names when there is a comma or the whole is one name; letters otherwise (n is name, not n-a-m-e)
  const named = spec.includes(',') || byName(spec) !== undefined;
  const parts = named ? spec.split(',').map((p) => p.trim()) : [...spec];
  if (parts.length === 0 || parts.some((p) => p === '')) throw new LodgeError('BAD_REQUEST', `--columns: "${spec}" names no column`);
  return parts.map((p) => {
    const column = named ? byName(p) : guestColumns.find((c) => c.letter === p);
    if (!column) throw new LodgeError('BAD_REQUEST', `--columns: "${p}" is not a column (${guestColumns.map((c) => `${c.letter} ${c.name}`).join(', ')})`);
    return column;
  });
}
