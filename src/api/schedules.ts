/**
 * @module The wire types of schedules: snapshots or backups of a guest that lodged takes
 * every so often, keeping only so many. Intervals are written as 90s, 15m, 1h, 1d.
 */
import { Type, type Static } from '@sinclair/typebox';
import { namePattern, StringEnum } from './common.js';

export const durationPattern = '^[0-9]+[smhd]$';
const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds in a duration such as 90s, 15m, 1h, 1d; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const m = /^([0-9]+)([smhd])$/.exec(text);
  return m ? Number(m[1]) * units[m[2]!]! : undefined;
}

/** A number of seconds as the largest unit that says it exactly. */
export function formatDuration(seconds: number): string {
  for (const u of ['d', 'h', 'm'] as const) if (seconds % units[u]! === 0) return `${seconds / units[u]!}${u}`;
  return `${seconds}s`;
}

export const scheduleKinds = ['snapshot', 'backup'] as const;
export type ScheduleKind = (typeof scheduleKinds)[number];

const every = Type.String({ pattern: durationPattern, description: 'how often: 90s, 15m, 1h, 1d (at least 10s)' });

export const SnapshotSchedulePut = Type.Object(
  {
    every,
    keep: Type.Integer({ minimum: 1, maximum: 1000, description: "how many of the schedule's snapshots (named auto-...) to keep; older ones are deleted" }),
  },
  { additionalProperties: false },
);
export type SnapshotSchedulePut = Static<typeof SnapshotSchedulePut>;

export const BackupSchedulePut = Type.Object(
  {
    every,
    store: Type.Optional(Type.String({ pattern: namePattern, description: 'the backup store (default: the only one)' })),
    keepLast: Type.Optional(Type.Integer({ minimum: 1 })),
    keepDaily: Type.Optional(Type.Integer({ minimum: 1 })),
    keepWeekly: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type BackupSchedulePut = Static<typeof BackupSchedulePut>;

export const Schedule = Type.Object({
  guest: Type.String(),
  kind: StringEnum(scheduleKinds),
  every: Type.String(),
  keep: Type.Record(Type.String(), Type.Union([Type.Integer(), Type.String()]), { description: 'what it keeps: keep for snapshots; store, keepLast, keepDaily, keepWeekly for backups' }),
  lastRunAt: Type.Optional(Type.String()),
  lastResult: Type.Optional(Type.String({ description: 'ok, or why the last run failed' })),
  nextRunAt: Type.String(),
});
export type Schedule = Static<typeof Schedule>;
export const ScheduleList = Type.Array(Schedule);
