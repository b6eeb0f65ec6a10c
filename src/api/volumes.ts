/**
 * @module The wire types of volumes: disks of their own in a storage pool, that outlive
 * the guests they are attached to. A volume is an ext4 filesystem on a raw disk file, so
 * that any kind can use it: a container sees it mounted at a path, a pv or vm guest as a disk.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Name, namePattern, sizePattern } from './common.js';

export const VolumesPost = Type.Object(
  {
    name: Type.String({ pattern: namePattern, maxLength: 20, description: "lowercase letters, digits and \"-\", starting with a letter, 1 to 20 characters: a vm guest sees it as its disk's serial number" }),
    size: Type.String({ pattern: sizePattern, description: 'its size, e.g. 10G (at least 64M)' }),
    pool: Type.Optional(Type.String({ pattern: namePattern, description: 'the storage pool that holds it (default: the default pool)' })),
  },
  { additionalProperties: false },
);
export type VolumesPost = Static<typeof VolumesPost>;

export const VolumeAttachment = Type.Object({
  guest: Type.String(),
  path: Type.Optional(Type.String({ description: 'ct: where the guest sees it mounted' })),
  device: Type.Optional(Type.String({ description: 'pv and vm: the disk the guest sees (/dev/ubdb, /dev/vdb)' })),
});
export type VolumeAttachment = Static<typeof VolumeAttachment>;

export const Volume = Type.Object({
  name: Type.String(),
  pool: Type.String(),
  sizeBytes: Type.Integer(),
  usedBytes: Type.Optional(Type.Integer({ description: 'what it takes in its pool' })),
  attachedTo: Type.Optional(VolumeAttachment),
  createdAt: Type.String(),
});
export type Volume = Static<typeof Volume>;

export const VolumeList = Type.Array(Volume);

export const GuestVolumePost = Type.Object(
  {
    volume: Name,
    path: Type.Optional(Type.String({ pattern: '^/[^\\u0000]*$', maxLength: 4096, description: 'ct: an absolute path in the guest where it is mounted (required for ct; pv and vm guests see a disk)' })),
  },
  { additionalProperties: false },
);
export type GuestVolumePost = Static<typeof GuestVolumePost>;
