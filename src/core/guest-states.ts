/**
 * @module The guest state machine: which action each state allows, and the state an
 * action leads to. A request in the wrong state is refused here, with 409, never by a driver.
 */
import { LodgeError } from '../api/errors.js';
import type { GuestAction, GuestState } from '../api/guests.js';

const allowed: Record<GuestAction, readonly GuestState[]> = {
  start: ['stopped', 'error'],
  stop: ['running', 'paused'],
  restart: ['running', 'paused'],
  pause: ['running'],
  resume: ['paused'],
};

export const resultState: Record<GuestAction, GuestState> = {
  start: 'running',
  stop: 'stopped',
  restart: 'running',
  pause: 'paused',
  resume: 'running',
};

/** A state as a sentence says it: "it is stopped", "it is in error". */
const described = (state: GuestState) => (state === 'error' ? 'in error' : state);

export function checkAction(name: string, state: GuestState, action: GuestAction): void {
  if (!allowed[action].includes(state)) {
    throw new LodgeError('CONFLICT', `cannot ${action} ${name}: it is ${described(state)} (${action} needs ${allowed[action].join(' or ')})`);
  }
}

export function checkDelete(name: string, state: GuestState, force: boolean): void {
  if (!force && (state === 'running' || state === 'paused')) {
    throw new LodgeError('CONFLICT', `cannot delete ${name}: it is ${state}; stop it first or use force`);
  }
}

export function checkRunning(name: string, state: GuestState, what: string): void {
  if (state !== 'running') throw new LodgeError('CONFLICT', `cannot ${what} ${name}: it is ${described(state)}, not running`);
}

/** A screen shows a running or a paused machine; a stopped one has none until it starts. */
export function checkShowing(name: string, state: GuestState): void {
  if (state === 'running' || state === 'paused') return;
  const next = state === 'stopped' || state === 'error' ? ': start it' : '';
  throw new LodgeError('CONFLICT', `cannot show the screen of ${name}: it is ${described(state)}${next}`);
}
