/**
 * @module The wire types of the autonomic loop: what it does now (GET /1.0/autonomic), what it
 * did and why (GET /1.0/autonomic/log), and pausing it.
 */
import { Type, type Static } from '@sinclair/typebox';
import { restartPolicies } from './guests.js';
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

export const AutonomicStatus = Type.Object({
  paused: Type.Boolean({ description: 'the loop sees guests end and reads their memory but takes no action until resumed' }),
  memory: Type.Optional(MemoryStatus),
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
