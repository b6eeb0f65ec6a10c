/**
 * @module A guest's snapshots under /1.0/guests/NAME/snapshots (list, take, inspect,
 * restore, delete), and copies of a guest at /1.0/guests/NAME/copy.
 */
import type { FastifyInstance } from 'fastify';
import { NameParams } from '../../api/common.js';
import { Operation } from '../../api/operations.js';
import { GuestCopyPost, Snapshot, SnapshotList, SnapshotParams, SnapshotsPost } from '../../api/snapshots.js';
import type { ServerDeps } from '../deps.js';

export function snapshotRoutes(app: FastifyInstance, { snapshots, guests }: ServerDeps): void {
  app.get<{ Params: NameParams }>(
    '/1.0/guests/:name/snapshots',
    { schema: { tags: ['snapshots'], summary: "A guest's snapshots, oldest first", params: NameParams, response: { 200: SnapshotList } } },
    (request) => snapshots.list(request.params.name),
  );

  app.post<{ Params: NameParams; Body: SnapshotsPost }>(
    '/1.0/guests/:name/snapshots',
    {
      schema: {
        tags: ['snapshots'],
        summary: "Take a snapshot of a guest's root volume (an operation): instant on a btrfs pool, a copy on a dir pool, a running guest paused meanwhile",
        params: NameParams,
        body: SnapshotsPost,
        response: { 202: Operation },
      },
    },
    async (request, reply) => reply.status(202).send(snapshots.create(request.params.name, request.body)),
  );

  app.get<{ Params: SnapshotParams }>(
    '/1.0/guests/:name/snapshots/:snapshot',
    { schema: { tags: ['snapshots'], summary: 'A snapshot, with what it takes in its pool', params: SnapshotParams, response: { 200: Snapshot } } },
    (request) => snapshots.get(request.params.name, request.params.snapshot),
  );

  app.post<{ Params: SnapshotParams }>(
    '/1.0/guests/:name/snapshots/:snapshot/restore',
    {
      schema: {
        tags: ['snapshots'],
        summary: 'Put the guest back as the snapshot keeps it, root volume and limits (an operation); a running guest is killed and started again',
        params: SnapshotParams,
        response: { 202: Operation },
      },
    },
    async (request, reply) => reply.status(202).send(snapshots.restore(request.params.name, request.params.snapshot)),
  );

  app.delete<{ Params: SnapshotParams }>(
    '/1.0/guests/:name/snapshots/:snapshot',
    { schema: { tags: ['snapshots'], summary: 'Delete a snapshot', params: SnapshotParams } },
    async (request, reply) => {
      await snapshots.delete(request.params.name, request.params.snapshot);
      return reply.status(204).send();
    },
  );

  app.post<{ Params: NameParams; Body: GuestCopyPost }>(
    '/1.0/guests/:name/copy',
    {
      schema: {
        tags: ['guests'],
        summary: 'Make a new guest from a guest or one of its snapshots (an operation): by reference on a btrfs pool; a new MAC and address on each network, and its own name',
        params: NameParams,
        body: GuestCopyPost,
        response: { 202: Operation },
      },
    },
    async (request, reply) => reply.status(202).send(guests.copy(request.params.name, request.body)),
  );
}
