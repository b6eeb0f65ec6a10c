/**
 * @module Restart policies, the decision alone: given how a guest's engine ended on its own,
 * its policy and its recent restarts, whether lodged starts it again, after how long, or gives
 * up, with the reason in words. Pure (no clock, no engine): core acts on what it answers.
 */
import type { RestartPolicy } from '../api/guests.js';

/** The first wait; each failed start in a row doubles it. */
export const firstBackoffMs = 1000;
export const maxBackoffMs = 5 * 60_000;
/** A guest that ran this long before it ended starts its count of attempts again. */
export const resetAfterMs = 10 * 60_000;
/** Failed starts in a row after which lodged stops trying. */
export const maxAttempts = 10;

/** What the loop remembers of a guest's restarts. */
export interface RestartHistory {
  /** Restarts in a row that did not run for resetAfterMs. */
  attempts: number;
  /** When its engine last started (ms since the epoch), if lodged knows. */
  startedAt?: number;
}

export interface GuestEnd {
  name: string;
  policy: RestartPolicy;
  /** How it ended, as lodged records it: "exited with code 1", "killed by signal 9", or a failed start's error. */
  how: string;
  /** It shut itself down (init exited 0, a poweroff or halt from inside), as its driver tells. */
  clean: boolean;
  /** When it was seen to end (ms since the epoch). */
  at: number;
  history: RestartHistory;
}

export type RestartDecision =
  | { action: 'leave'; reason: string }
  | { action: 'restart'; attempt: number; delayMs: number; reason: string }
  | { action: 'give-up'; reason: string };

/** The wait before attempt `attempt` (1-based): 1 s, 2 s, 4 s ... at most 5 min. */
export function backoffMs(attempt: number): number {
  return Math.min(maxBackoffMs, firstBackoffMs * 2 ** (attempt - 1));
}

/** A wait in words: 500 ms, 4 s, 2 min 8 s. */
export function formatWait(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
}

export function decideRestart(end: GuestEnd): RestartDecision {
  const ended = `${end.name} ${end.how}`;
  if (end.policy === 'no') return { action: 'leave', reason: `${ended}; its restart policy is no: left stopped` };
  if (end.policy === 'on-failure' && end.clean) return { action: 'leave', reason: `${ended}, a clean end; its restart policy is on-failure: left stopped` };
  const ranLong = end.history.startedAt !== undefined && end.at - end.history.startedAt >= resetAfterMs;
  const before = ranLong ? 0 : end.history.attempts;
  if (before >= maxAttempts) {
    return { action: 'give-up', reason: `${ended}; gave up restarting it (${end.policy}) after ${maxAttempts} failed starts in a row: start it when it is fixed` };
  }
  const attempt = before + 1;
  const delayMs = backoffMs(attempt);
  return { action: 'restart', attempt, delayMs, reason: `${ended}; restarting it (${end.policy}, attempt ${attempt}, after ${formatWait(delayMs)})` };
}
