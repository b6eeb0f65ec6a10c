/**
 * @module The wire types of storage pools: where guests' bytes live (their roots, and
 * later their volumes and snapshots), one backend per pool.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Name, sizePattern, StringEnum } from './common.js';

export const poolDrivers = ['dir', 'btrfs'] as const;
export type PoolDriverName = (typeof poolDrivers)[number];

/** filesystem: files (a container's root); block: disk files an engine writes (qcow2, COW). */
export type VolumeContent = 'filesystem' | 'block';

export const StoragePoolsPost = Type.Object(
  {
    name: Name,
    driver: StringEnum(poolDrivers, { description: 'dir: directories on the host (an ext4 file per container root for its size); btrfs: subvolumes with quotas, instant snapshots and clones' }),
    source: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description: "dir: an absolute directory (default: in lodged's state directory); btrfs: an absolute path of an empty block device, formatted by Lodge (default: a sparse file in lodged's state directory)",
      }),
    ),
    size: Type.Optional(Type.String({ pattern: sizePattern, description: 'btrfs on a file: the size of the file (sparse: it takes host space only as guests write; default a fifth of the free space, between 5G and 100G)' })),
    volumeSize: Type.Optional(Type.String({ pattern: sizePattern, description: 'the size of a container root launched without --disk (default 10G)' })),
  },
  { additionalProperties: false },
);
export type StoragePoolsPost = Static<typeof StoragePoolsPost>;

export const StoragePool = Type.Object({
  name: Type.String(),
  driver: StringEnum(poolDrivers),
  source: Type.String({ description: 'the directory, block device or file that holds it' }),
  path: Type.String({ description: 'where it is mounted on the host: its volumes are below' }),
  default: Type.Boolean({ description: 'guests launched without --pool go here' }),
  totalBytes: Type.Integer(),
  usedBytes: Type.Integer(),
  volumeSizeBytes: Type.Integer({ description: 'the size of a container root launched without --disk' }),
  volumes: Type.Integer({ description: 'volumes it holds (guest roots included)' }),
  createdAt: Type.String(),
});
export type StoragePool = Static<typeof StoragePool>;

export const StoragePoolList = Type.Array(StoragePool);

/** What GET /1.0 says of storage: the default pool, and why it is that one. */
export const HostStorage = Type.Object({
  defaultPool: Type.String(),
  reason: Type.String(),
});
export type HostStorage = Static<typeof HostStorage>;
