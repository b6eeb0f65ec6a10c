/**
 * @module /1.0/storage-pools: list, create, inspect, delete.
 */
import type { FastifyInstance } from 'fastify';
import { NameParams } from '../../api/common.js';
import { StoragePool, StoragePoolList, StoragePoolsPost } from '../../api/storage.js';
import type { ServerDeps } from '../deps.js';

export function storageRoutes(app: FastifyInstance, { storage }: ServerDeps): void {
  app.get('/1.0/storage-pools', { schema: { tags: ['storage'], response: { 200: StoragePoolList } } }, () => storage.list());

  app.post<{ Body: StoragePoolsPost }>(
    '/1.0/storage-pools',
    { schema: { tags: ['storage'], summary: 'Create a storage pool: a directory, or btrfs on a block device or on a file Lodge makes', body: StoragePoolsPost, response: { 201: StoragePool } } },
    async (request, reply) => reply.status(201).send(await storage.create(request.body)),
  );

  app.get<{ Params: NameParams }>(
    '/1.0/storage-pools/:name',
    { schema: { tags: ['storage'], params: NameParams, response: { 200: StoragePool } } },
    (request) => storage.get(request.params.name),
  );

  app.delete<{ Params: NameParams }>(
    '/1.0/storage-pools/:name',
    { schema: { tags: ['storage'], summary: 'Delete a storage pool that holds no volume (its file or directory goes too)', params: NameParams } },
    async (request, reply) => {
      await storage.delete(request.params.name);
      return reply.status(204).send();
    },
  );
}
