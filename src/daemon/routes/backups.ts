/**
 * @module Backup stores under /1.0/backup-stores (list, make or add, inspect, forget), the
 * backups in each (list, inspect, restore, delete, verify, prune, gc, and their files: a
 * directory listed, files downloaded as a tar), and a guest's backup at POST
 * /1.0/guests/NAME/backups.
 */
import { rm } from 'node:fs/promises';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { LodgeError } from '../../api/errors.js';
import { NameParams, namePattern } from '../../api/common.js';
import { Operation } from '../../api/operations.js';
import {
  Backup,
  BackupFileList,
  BackupFilesListQuery,
  BackupFilesQuery,
  backupFilesIncompleteHeader,
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
import { receiveUpload, streamedTypes } from '../uploads.js';

const ImportQuery = Type.Object(
  {
    name: Type.Optional(Type.String({ pattern: namePattern, description: "the new guest (default: the exported guest's name)" })),
    start: Type.Optional(Type.Boolean({ default: false })),
    privileged: Type.Optional(Type.Boolean({ description: 'make an archive of a privileged container one (its root is the host\'s root): only for an archive you trust' })),
  },
  { additionalProperties: false },
);
type ImportQuery = Static<typeof ImportQuery>;

export function backupRoutes(app: FastifyInstance, { backups, tmpDir }: ServerDeps): void {
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

  app.get<{ Params: BackupParams; Querystring: BackupFilesQuery }>(
    '/1.0/backup-stores/:store/backups/:guest/:id/files',
    {
      schema: {
        tags,
        summary: `Files and directories of a backup as the guest saw them, as a tar (owners are the guest's ids; what this host could not read of the backup is said in ${backupFilesIncompleteHeader})`,
        params: BackupParams,
        querystring: BackupFilesQuery,
      },
    },
    async (request, reply) => {
      const abort = new AbortController();
      request.raw.once('close', () => abort.abort(new LodgeError('CANCELLED', 'the client went away')));
      const { store, guest, id } = request.params;
      const { tar, incomplete } = await backups.downloadFiles(store, guest, id, request.query.path, tmpDir, abort.signal);
      if (incomplete) void reply.header(backupFilesIncompleteHeader, incomplete);
      return reply.type('application/x-tar').send(tar);
    },
  );

  app.get<{ Params: BackupParams; Querystring: BackupFilesListQuery }>(
    '/1.0/backup-stores/:store/backups/:guest/:id/files/list',
    { schema: { tags, summary: 'A directory of a backup as the guest saw it (or a file: itself)', params: BackupParams, querystring: BackupFilesListQuery, response: { 200: BackupFileList } } },
    (request) => backups.listFiles(request.params.store, request.params.guest, request.params.id, request.query.path ?? '/', tmpDir),
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

  app.get<{ Params: NameParams }>(
    '/1.0/guests/:name/export',
    { schema: { tags, summary: 'The guest as one archive (a tar: its settings and a backup store holding one backup of it) that imports on another Lodge host', params: NameParams } },
    async (request, reply) => {
      const abort = new AbortController();
      request.raw.once('close', () => abort.abort(new LodgeError('CANCELLED', 'the client went away')));
      const tar = await backups.exportGuest(request.params.name, tmpDir, abort.signal);
      return reply.type('application/x-tar').send(tar);
    },
  );

  app.post<{ Querystring: ImportQuery }>(
    '/1.0/guests/import',
    { schema: { tags, summary: 'Make a new guest from an exported archive sent as the body (an operation)', querystring: ImportQuery, response: { 202: Operation } } },
    async (request, reply) => {
      if (!streamedTypes.includes(String(request.headers['content-type']).split(';')[0]!)) throw new LodgeError('BAD_REQUEST', `the body must be an archive sent as ${streamedTypes.join(' or ')}`);
      const file = await receiveUpload(request, reply, tmpDir, 'guest-import');
      try {
        return await reply.status(202).send(await backups.importGuest(file, { ...(request.query.name ? { name: request.query.name } : {}), ...(request.query.start ? { start: true } : {}), ...(request.query.privileged ? { privileged: true } : {}) }, tmpDir));
      } finally {
        await rm(file, { force: true });
      }
    },
  );

  app.post<{ Params: NameParams; Body: GuestBackupsPost }>(
    '/1.0/guests/:name/backups',
    { schema: { tags, summary: 'Back a guest up (an operation): a point in time of its root volume, only what changed since its last backup read', params: NameParams, body: GuestBackupsPost, response: { 202: Operation } } },
    async (request, reply) => reply.status(202).send(backups.create(request.params.name, request.body)),
  );
}
