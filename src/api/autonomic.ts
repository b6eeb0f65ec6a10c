/**
 * @module The wire types of the autonomic loop: what it does now (GET /1.0/autonomic), what it
 * did and why (GET /1.0/autonomic/log), and pausing it.
 */
import { Type, type Static } from '@sinclair/typebox';
import { priorities, restartPolicies } from './guests.js';
import { StringEnum } from './common.js';
import { Operation } from './operations.js';

export const AutonomicGuest = Type.Object({
  name: Type.String(),
  restart: StringEnum(restartPolicies),
  state: Type.String(),
  restarts: Type.Integer({ description: 'restarts in a row that lodged made since the guest last ran 10 min (or was started through Lodge)' }),
  nextRestartAt: Type.Optional(Type.String({ description: 'when lodged starts it again' })),
  nextReason: Type.Optional(Type.String({ description: 'why it will' })),
  gaveUp: Type.Optional(Type.Boolean({ description: 'lodged stopped trying after 10 failed starts in a row; a start through Lodge clears it' })),
});
export type AutonomicGuest = Static<typeof AutonomicGuest>;

export const MemoryGuest = Type.Object({
  name: Type.String(),
  kind: Type.String(),
  floorBytes: Type.Optional(Type.Integer({ description: 'the least the loop leaves it (limits.memoryFloor)' })),
  allocationBytes: Type.Optional(Type.Integer({ description: 'what it holds now' })),
  ceilingBytes: Type.Optional(Type.Integer({ description: 'the most it may hold (limits.memory)' })),
  usedBytes: Type.Optional(Type.Integer({ description: 'what it uses, without the caches it could drop where its engine tells them apart' })),
  how: Type.String({ description: 'how its allocation moves (cgroup limit, memory.high, balloon), or why it does not' }),
});
export type MemoryGuest = Static<typeof MemoryGuest>;

export const MemoryStatus = Type.Object({
  budgetBytes: Type.Integer({ description: "the guest memory budget: the host's memory less the reserve the loop never gives away (lodged --guest-memory)" }),
  overcommitted: Type.Boolean({ description: 'the ceilings of the running guests exceed the budget: the loop moves memory between them' }),
  dryRun: Type.Boolean({ description: 'lodged --autonomic-dry-run: the loop logs the moves it would make and makes none' }),
  guests: Type.Array(MemoryGuest, { description: 'every running guest' }),
});
export type MemoryStatus = Static<typeof MemoryStatus>;

export const CpuGuest = Type.Object({
  name: Type.String(),
  kind: Type.String(),
  priority: StringEnum(priorities),
  shares: Type.Optional(Type.Integer({ description: "its CPU weight now, in cgroup v1's cpu.shares unit (on v2 its cpu.weight is set from it); in dry run, the weight the loop would have given it" })),
  baseShares: Type.Integer({ description: 'the weight its limits.cpu and priority give it (1024 a CPU; low half, high twice)' }),
  lowered: Type.Boolean({ description: 'it kept a CPU busy for a whole window: the loop holds it at a quarter of its base until it has been quiet for half a window' }),
  how: Type.String({ description: 'why it holds that weight' }),
});
export type CpuGuest = Static<typeof CpuGuest>;

export const CpuStatus = Type.Object({
  windowSeconds: Type.Number({ description: 'how long a guest must keep a CPU busy to be lowered (lodged --autonomic-cpu-window)' }),
  dryRun: Type.Boolean({ description: 'lodged --autonomic-dry-run: the loop logs the changes it would make and makes none' }),
  guests: Type.Array(CpuGuest, { description: 'every running guest whose kind has a CPU weight' }),
});
export type CpuStatus = Static<typeof CpuStatus>;

const SideHealth = Type.Object({
  state: StringEnum(['answers', 'silent', 'unknown'] as const),
  how: Type.String({ description: 'in words: since when it is silent and why, or why it cannot be told' }),
});

export const HealthGuest = Type.Object({
  name: Type.String(),
  kind: Type.String(),
  console: SideHealth,
  agent: Type.Intersect([SideHealth, Type.Object({ name: Type.Optional(Type.String({ description: 'the agent asked: guest agent (QGA), lodge-execd' })) })]),
});
export type HealthGuest = Static<typeof HealthGuest>;

export const HealthStatus = Type.Object({
  everySeconds: Type.Number({ description: 'how often each running guest is asked (lodged --autonomic-health-every); a side is silent after two probes in a row without an answer' }),
  guests: Type.Array(HealthGuest, { description: 'every running guest in the loop, once it has been probed' }),
});
export type HealthStatus = Static<typeof HealthStatus>;

export const ksmModes = ['off', 'auto', 'always'] as const;
export type KsmMode = (typeof ksmModes)[number];

export const KsmStatus = Type.Object({
  mode: StringEnum(ksmModes, { description: 'lodged --ksm: off (vm memory not offered to KSM), auto (ksmd runs while vm guests run and the budget is overcommitted), always (whenever a vm runs)' }),
  available: Type.Boolean({ description: "the host's kernel has KSM" }),
  running: Type.Boolean({ description: "the host's ksmd runs (it may have been started by another lodged, or by the administrator)" }),
  savedBytes: Type.Optional(Type.Integer({ description: 'memory KSM saves on the host now (its pages_sharing), for every process that offers it' })),
  how: Type.String({ description: 'why ksmd runs or not, in words' }),
});
export type KsmStatus = Static<typeof KsmStatus>;

export const AutonomicStatus = Type.Object({
  paused: Type.Boolean({ description: 'the loop sees guests end and reads their memory and CPU but takes no action until resumed' }),
  memory: Type.Optional(MemoryStatus),
  cpu: Type.Optional(CpuStatus),
  health: Type.Optional(HealthStatus),
  ksm: Type.Optional(KsmStatus),
  guests: Type.Array(AutonomicGuest, { description: 'every guest with a restart policy other than no' }),
  nextDue: Type.Optional(Type.String({ description: 'the earliest action to come' })),
});
export type AutonomicStatus = Static<typeof AutonomicStatus>;

export const AutonomicLogQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'how many of the last actions (default 20)' })) },
  { additionalProperties: false },
);
export type AutonomicLogQuery = Static<typeof AutonomicLogQuery>;

export const AutonomicLog = Type.Array(Operation, { description: 'the operations of the loop (action autonomic.*), newest first, each with its reason' });
