/**
 * @module The wire type of GET /1.0: what this lodged is and what its host can run.
 */
import { Type, type Static } from '@sinclair/typebox';
import { GuestKind, StringEnum } from './common.js';
import { HostStorage } from './storage.js';

export const HostInfo = Type.Object({
  apiVersion: Type.Literal('1.0'),
  version: Type.String(),
  instance: Type.String({ description: 'short id of this installation; host-side names (cgroups, runtime ids) carry it' }),
  cgroups: Type.String(),
  drivers: Type.Array(
    Type.Object({
      kind: GuestKind,
      available: Type.Boolean(),
      engine: Type.String(),
      memory: Type.Optional(Type.Object({ minimumBytes: Type.Integer(), defaultBytes: Type.Integer() })),
      rootContent: StringEnum(['filesystem', 'block'] as const, { description: "what a guest's root volume holds: files (a container's upper layer) or the disk files its engine writes" }),
    }),
  ),
  storage: Type.Optional(HostStorage),
});
export type HostInfo = Static<typeof HostInfo>;
