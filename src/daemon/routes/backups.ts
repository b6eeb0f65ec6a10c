/**
 * @module Backup stores under /1.0/backup-stores (list, make or add, inspect, forget), the
 * backups in each (list, inspect, restore, delete, verify, prune, gc), and a guest's
 * backup at POST /1.0/guests/NAME/backups.
 */
import type { FastifyInstance } from 'fastify';
import { NameParams } from '../../api/common.js';
import { Operation } from '../../api/operations.js';
import {
  Backup,
  BackupGcResult,
  BackupList,
  BackupParams,
  BackupPrunePost,
  BackupPruneResult,
  BackupRestorePost,
  BackupsQuery,
  BackupStore,
  BackupStoreList,
  BackupStoresPost,
  BackupVerifyResult,
  GuestBackupsPost,
  StoreParams,
} from '../../api/backups.js';
import type { ServerDeps } from '../deps.js';

export function backupRoutes(app: FastifyInstance, { backups }: ServerDeps): void {
  const tags = ['backups'];
  app.get('/1.0/backup-stores', { schema: { tags, response: { 200: BackupStoreList } } }, () => backups.stores());

  app.post<{ Body: BackupStoresPost }>(
    '/1.0/backup-stores',
    { schema: { tags, summary: 'Make a backup store in a new or empty directory, or add the store a directory holds', body: BackupStoresPost, response: { 201: BackupStore } } },
    async (request, reply) => reply.status(201).send(await backups.addStore(request.body)),
  );

  app.get<{ Params: StoreParams }>('/1.0/backup-stores/:store', { schema: { tags, params: StoreParams, response: { 200: BackupStore } } }, (request) => backups.getStore(request.params.store));

  app.delete<{ Params: StoreParams }>(
    '/1.0/backup-stores/:store',
    { schema: { tags, summary: 'Forget a backup store (its backups stay in its directory)', params: StoreParams } },
    async (request, reply) => {
      await backups.removeStore(request.params.store);
      return reply.status(204).send();
    },
  );

  app.get<{ Params: StoreParams; Querystring: BackupsQuery }>(
    '/1.0/backup-stores/:store/backups',
    { schema: { tags, summary: 'The backups in a store, oldest first, of one guest or of all', params: StoreParams, querystring: BackupsQuery, response: { 200: BackupList } } },
    (request) => backups.list(request.params.store, request.query.guest),
  );

  app.get<{ Params: BackupParams }>('/1.0/backup-stores/:store/backups/:guest/:id', { schema: { tags, params: BackupParams, response: { 200: Backup } } }, (request) =>
    backups.get(request.params.store, request.params.guest, request.params.id),
  );

  app.delete<{ Params: BackupParams }>(
    '/1.0/backup-stores/:store/backups/:guest/:id',
    { schema: { tags, summary: 'Delete a backup (the chunks only it had go at the next gc)', params: BackupParams } },
    async (request, reply) => {
      await backups.delete(request.params.store, request.params.guest, request.params.id);
      return reply.status(204).send();
    },
  );

  app.post<{ Params: BackupParams; Body: BackupRestorePost }>(
    '/1.0/backup-stores/:store/backups/:guest/:id/restore',
    { schema: { tags, summary: 'Make a new guest from a backup (an operation)', params: BackupParams, body: BackupRestorePost, response: { 202: Operation } } },
    async (request, reply) => reply.status(202).send(await backups.restore(request.params.store, request.params.guest, request.params.id, request.body)),
  );

  app.post<{ Params: StoreParams }>(
    '/1.0/backup-stores/:store/verify',
    { schema: { tags, summary: 'Re-read and re-hash every chunk the backups use; say which backups damage breaks', params: StoreParams, response: { 200: BackupVerifyResult } } },
    (request) => backups.verify(request.params.store),
  );

  app.post<{ Params: StoreParams; Body: BackupPrunePost }>(
    '/1.0/backup-stores/:store/prune',
    { schema: { tags, summary: "Delete a guest's backups that a retention policy does not keep", params: StoreParams, body: BackupPrunePost, response: { 200: BackupPruneResult } } },
    (request) => backups.prune(request.params.store, request.body),
  );

  app.post<{ Params: StoreParams }>(
    '/1.0/backup-stores/:store/gc',
    { schema: { tags, summary: 'Remove the chunks no backup uses (safe while backups run)', params: StoreParams, response: { 200: BackupGcResult } } },
    (request) => backups.gc(request.params.store),
  );

  app.post<{ Params: NameParams; Body: GuestBackupsPost }>(
    '/1.0/guests/:name/backups',
    { schema: { tags, summary: 'Back a guest up (an operation): a point in time of its root volume, only what changed since its last backup read', params: NameParams, body: GuestBackupsPost, response: { 202: Operation } } },
    async (request, reply) => reply.status(202).send(backups.create(request.params.name, request.body)),
  );
}
