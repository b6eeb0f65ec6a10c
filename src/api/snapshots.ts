/**
 * @module The wire types of snapshots: a guest's root volume kept as it was at a point in
 * time, with the guest's limits then, to restore it or to copy a new guest from; and of
 * copies, new guests made from a guest or one of its snapshots.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Name, namePattern, StringEnum } from './common.js';
import { guestStates, Limits } from './guests.js';

export const SnapshotsPost = Type.Object(
  {
    name: Type.Optional(Type.String({ pattern: namePattern, maxLength: 63, description: 'its name among the guest\'s snapshots (default: snap0, snap1, ...)' })),
    stateful: Type.Optional(Type.Boolean({ description: "keep the running guest's memory too, to restore it running from that point (kinds with the statefulSnapshot feature)" })),
  },
  { additionalProperties: false },
);
export type SnapshotsPost = Static<typeof SnapshotsPost>;

export const Snapshot = Type.Object({
  name: Type.String(),
  guest: Type.String(),
  createdAt: Type.String(),
  stateful: Type.Boolean({ description: 'it holds the memory of the guest, which ran then' }),
  guestState: StringEnum(guestStates, { description: 'the state of the guest when it was taken' }),
  limits: Limits,
  usedBytes: Type.Optional(Type.Integer({ description: 'what it takes in its pool that the guest does not share with it (info only)' })),
});
export type Snapshot = Static<typeof Snapshot>;

export const SnapshotList = Type.Array(Snapshot);

export const SnapshotParams = Type.Object({ name: Name, snapshot: Name });
export type SnapshotParams = Static<typeof SnapshotParams>;

export const GuestCopyPost = Type.Object(
  {
    name: Type.String({ pattern: namePattern, description: 'the new guest' }),
    snapshot: Type.Optional(Type.String({ pattern: namePattern, description: 'copy this snapshot of the guest instead of the guest as it is now' })),
    start: Type.Optional(Type.Boolean({ default: false, description: 'start the copy once made' })),
  },
  { additionalProperties: false },
);
export type GuestCopyPost = Static<typeof GuestCopyPost>;
