/**
 * @module The wire type of GET /1.0: what this lodged is and what its host can run.
 */
import { Type, type Static } from '@sinclair/typebox';
import { GuestKind, StringEnum } from './common.js';
import { imageFormats } from './images.js';
import { HostStorage } from './storage.js';

/** What a guest kind may be able to do; each driver declares which it can, and why not the others. */
export const guestFeatures = ['exec', 'interactiveExec', 'pause', 'liveLimits', 'memoryBalloon', 'diskHotplug', 'volumeMount', 'files', 'filesStopped', 'statefulSnapshot', 'liveMigration', 'vga'] as const;
export type GuestFeature = (typeof guestFeatures)[number];

/** The options of a launch that only some kinds take: the fields of GuestOptions. */
export const launchOptions = ['privileged', 'accel', 'profile', 'userData'] as const;
export type LaunchOption = (typeof launchOptions)[number];

export const HttpsListener = Type.Object(
  {
    address: Type.String(),
    port: Type.Integer(),
    certificate: StringEnum(['self-signed', 'given'] as const, { description: 'made by Lodge at its first start, or given with --tls-cert' }),
    fingerprint: Type.String({ description: "the SHA-256 fingerprint of its certificate, which lodge remote add pins" }),
  },
  { description: 'the HTTPS listener beside the unix socket (lodged --listen), when there is one' },
);
export type HttpsListener = Static<typeof HttpsListener>;

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
      features: Type.Array(StringEnum(guestFeatures), { description: 'what guests of this kind can do' }),
      lacks: Type.Record(Type.String(), Type.String(), { description: 'each feature it cannot, and why' }),
      imageFormats: Type.Array(StringEnum(imageFormats), { description: 'the image formats it boots' }),
      launchOptions: Type.Array(StringEnum(launchOptions), { description: 'the options of a launch it takes beyond the common ones' }),
    }),
  ),
  storage: Type.Optional(HostStorage),
  listen: Type.Optional(HttpsListener),
});
export type HostInfo = Static<typeof HostInfo>;
