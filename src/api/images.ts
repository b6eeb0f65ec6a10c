/**
 * @module The wire types of images: root filesystems that guests start from.
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

export const ImageImportQuery = Type.Object(
  {
    name: ImageName,
    init: Type.Optional(Type.String({ pattern: '^/', description: 'the program the guest starts as PID 1' })),
    stopSignal: Type.Optional(Type.String({ pattern: '^SIG[A-Z0-9+]+$', description: 'the signal that asks init to shut down' })),
  },
  { additionalProperties: false },
);
export type ImageImportQuery = Static<typeof ImageImportQuery>;

export const Image = Type.Object({
  name: Type.String(),
  init: Type.String(),
  stopSignal: Type.String(),
  sizeBytes: Type.Integer(),
  createdAt: Type.String(),
  source: Type.String({ description: 'how it was made: built from Debian packages, or imported' }),
});
export type Image = Static<typeof Image>;

export const ImageList = Type.Array(Image);
