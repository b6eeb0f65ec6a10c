/**
 * @module Health reports, the decision alone: from each probe of a running guest (does what
 * holds its console answer, does the agent in it), when to say that one has gone silent and
 * when that it answers again, and how each side stands. Pure (no clock, no engine): core
 * probes the guests, asks this, and writes what it answers as operations.
 *
 * A side is silent once it has failed `silentAfter` probes in a row: a single lost answer (a
 * guest busy for a moment) is not news. An agent counts only once it has answered since the
 * guest's engine started: one that never has is still booting, or its image has none, which
 * the status says and no report repeats.
 */

/** One side of a guest as a probe found it (drivers/driver.ts's HealthProbe: this module reaches no driver). */
interface SideAnswer {
  answers: boolean;
  why?: string;
}

export interface HealthAnswers {
  console?: SideAnswer;
  agent?: SideAnswer & { name: string };
}

export type HealthSide = 'console' | 'agent';

/** What the loop keeps of one side of a guest between probes. */
export interface SideTrack {
  everAnswered: boolean;
  failures: number;
  /** When the failures in a row began. */
  failingSince?: number;
  lastAnswerAt?: number;
  /** Its silence has been reported (and not yet its answer again). */
  reported: boolean;
  why?: string;
}

export interface HealthTrack {
  console: SideTrack;
  agent: SideTrack;
  /** The agent's name as its driver gives it ("guest agent", "lodge-execd"). */
  agentName?: string;
  /** Neither the console's holder nor an agent can be asked (a guest an earlier Lodge started, a container's console unknown). */
  consoleKnown: boolean;
}

export interface HealthReport {
  side: HealthSide;
  silent: boolean;
  reason: string;
}

export interface SideStatus {
  state: 'answers' | 'silent' | 'unknown';
  how: string;
}

export const newHealthTrack = (): HealthTrack => ({ console: { everAnswered: false, failures: 0, reported: false }, agent: { everAnswered: false, failures: 0, reported: false }, consoleKnown: false });

const seconds = (ms: number) => `${Math.max(0, Math.round(ms / 1000))} s`;

/** Takes one probe of guest `name` into `track` at `now`; answers what is news. */
export function judgeHealth(name: string, track: HealthTrack, probe: HealthAnswers, now: number, silentAfter = 2): HealthReport[] {
  const reports: HealthReport[] = [];
  track.consoleKnown = probe.console !== undefined;
  if (probe.agent) track.agentName = probe.agent.name;
  const sides: Array<[HealthSide, SideAnswer | undefined, string]> = [
    ['console', probe.console, `${name}'s console`],
    ['agent', probe.agent, `${name}'s ${track.agentName ?? 'agent'}`],
  ];
  for (const [side, answer, who] of sides) {
    if (!answer) continue;
    const t = track[side];
    if (answer.answers) {
      if (t.reported) reports.push({ side, silent: false, reason: `${who} answers again, after ${seconds(now - (t.failingSince ?? now))} silent` });
      Object.assign(t, { everAnswered: true, failures: 0, lastAnswerAt: now, reported: false });
      delete t.failingSince;
      delete t.why;
      continue;
    }
    t.failures++;
    t.failingSince ??= now;
    t.why = answer.why;
    // an agent that never answered since the start is not news: still booting, or none in the image
    const counts = side === 'console' || t.everAnswered;
    if (counts && !t.reported && t.failures >= silentAfter) {
      t.reported = true;
      const last = t.lastAnswerAt !== undefined ? ` (it last answered ${seconds(now - t.lastAnswerAt)} ago)` : '';
      reports.push({ side, silent: true, reason: `${who} has not answered for ${seconds(now - t.failingSince)}${last}: ${answer.why ?? 'no reason given'}` });
    }
  }
  return reports;
}

/** How one side of a guest stands, in words, for the status. */
export function sideStatus(track: HealthTrack, side: HealthSide, now: number): SideStatus {
  const t = track[side];
  if (side === 'console' && !track.consoleKnown) return { state: 'unknown', how: 'what holds its console was not recorded at its start (an earlier Lodge started it)' };
  if (side === 'agent' && !track.agentName) return { state: 'unknown', how: 'no agent is known to run in it' };
  if (t.reported) return { state: 'silent', how: `silent for ${seconds(now - (t.failingSince ?? now))}: ${t.why ?? 'no reason given'}` };
  if (!t.everAnswered) return { state: 'unknown', how: t.failures > 0 ? `has not answered since its start (still booting, or none runs in it): ${t.why ?? 'no reason given'}` : 'not asked yet' };
  return { state: 'answers', how: t.failures > 0 ? `answers, but missed the last ${t.failures === 1 ? 'probe' : `${t.failures} probes`}: ${t.why ?? 'no reason given'}` : 'answers' };
}
