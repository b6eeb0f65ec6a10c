/**
 * @module The wire types of images: root filesystems, disks and ISOs that guests start from.
 */
import { Type, type Static } from '@sinclair/typebox';
import { StringEnum } from './common.js';

export const imageNamePattern = '^[a-z0-9][a-z0-9._-]{0,62}(/[a-z0-9][a-z0-9._-]{0,62})?$';
export const ImageName = Type.String({ pattern: imageNamePattern, description: 'e.g. busybox or debian/12' });

import { buildableImages } from './image-names.js';

export { buildableImages };

export const ImagesBuildPost = Type.Object(
  { name: StringEnum(buildableImages) },
  { additionalProperties: false },
);
export type ImagesBuildPost = Static<typeof ImagesBuildPost>;

/** How an image is kept: a root filesystem tree (every kind), or a bootable disk or ISO (vm, through firmware). */
export const imageFormats = ['rootfs', 'qcow2', 'raw', 'iso'] as const;
export type ImageFormat = (typeof imageFormats)[number];

export const importFormats = ['auto', 'tar', 'qcow2', 'raw', 'iso'] as const;
export type ImportFormat = (typeof importFormats)[number];

export const ImageImportQuery = Type.Object(
  {
    name: ImageName,
    format: Type.Optional(
      StringEnum(importFormats, { description: 'auto (default) tells a tarball, a qcow2 and an ISO apart by their contents; a raw disk must be named as one' }),
    ),
    // pv and vm guests get it on a kernel command line, where a space would start another parameter
    init: Type.Optional(Type.String({ pattern: '^/[^\\s\\u0000]*$', description: 'the program the guest starts as PID 1: an absolute path without spaces or NUL bytes' })),
    stopSignal: Type.Optional(Type.String({ pattern: '^SIG[A-Z0-9+]+$', description: 'the signal that asks init to shut down' })),
  },
  { additionalProperties: false },
);
export type ImageImportQuery = Static<typeof ImageImportQuery>;

export const ImageBase = Type.Object({
  path: Type.String({ description: 'on the host, read-only' }),
  sizeBytes: Type.Integer({ description: 'what it takes on the host' }),
  current: Type.Boolean({ description: 'made from the current version of the image; an earlier version\'s base stays while guests made from that version do' }),
});
export type ImageBase = Static<typeof ImageBase>;

export const Image = Type.Object({
  name: Type.String(),
  format: StringEnum(imageFormats),
  init: Type.String(),
  stopSignal: Type.String(),
  sizeBytes: Type.Integer({ description: 'what it takes on the host: its content, its bases (derivedBytes) and its earlier versions (earlierBytes)' }),
  derivedBytes: Type.Integer({ description: 'what its bases take: the copies and disks made from it for guests' }),
  earlierBytes: Type.Integer({ description: 'what the content of its earlier versions takes: each stays, with its bases, while guests made from it exist' }),
  bases: Type.Array(ImageBase, {
    description: 'made from it for guests, once each: the id-shifted copy of its rootfs (containers), its rootfs as ext4 (pv) and as qcow2 (vm)',
  }),
  createdAt: Type.String(),
  source: Type.String({ description: 'how it was made: built from Debian packages, or imported' }),
});
export type Image = Static<typeof Image>;

export const ImageList = Type.Array(Image);
