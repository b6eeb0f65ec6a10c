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

export const AutonomicStatus = Type.Object({
  paused: Type.Boolean({ description: 'the loop sees guests end but takes no action until resumed' }),
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
