/**
 * @module The wire types of a guest's files: lodge file push|pull, as query parameters of
 * a request whose body (push) or answer (pull) is the file's bytes.
 */
import { Type, type Static } from '@sinclair/typebox';

export const GuestFilePath = Type.String({
  pattern: '^/[^\\u0000]*$',
  maxLength: 4095,
  description: 'an absolute path as the guest sees it; links resolve inside the guest',
});

/** A mode as an administrator writes it: octal, e.g. 0644 or 4755. */
export const FileMode = Type.String({ pattern: '^0?[0-7]{3,4}$', description: 'permission bits in octal, e.g. 0644' });

const GuestId = Type.Integer({ minimum: 0, maximum: 4294967294 });

export const FilePullQuery = Type.Object({ path: GuestFilePath }, { additionalProperties: false });
export type FilePullQuery = Static<typeof FilePullQuery>;

export const FilePushQuery = Type.Object(
  {
    path: GuestFilePath,
    mode: Type.Optional({ ...FileMode, description: "permission bits in octal (default: the replaced file's, 0644 for a new one)" }),
    uid: Type.Optional({ ...GuestId, description: "the owner, as the guest's user id (default: the replaced file's, root for a new one)" }),
    gid: Type.Optional({ ...GuestId, description: "the group, as the guest's group id (default: the replaced file's, root's for a new one)" }),
    parents: Type.Optional(Type.Boolean({ description: "make the missing directories above it (root's, 0755)" })),
  },
  { additionalProperties: false },
);
export type FilePushQuery = Static<typeof FilePushQuery>;

/** A file of a guest as it is after a push, and as the headers of a pull say. */
export const GuestFile = Type.Object({
  path: Type.String(),
  mode: FileMode,
  uid: Type.Integer({ description: "the guest's own user id" }),
  gid: Type.Integer({ description: "the guest's own group id" }),
  sizeBytes: Type.Integer(),
});
export type GuestFile = Static<typeof GuestFile>;

/** The headers of a pull's answer that carry what its body does not. */
export const fileHeaders = { mode: 'x-lodge-file-mode', uid: 'x-lodge-file-uid', gid: 'x-lodge-file-gid' } as const;

export const formatMode = (mode: number) => mode.toString(8).padStart(4, '0');
