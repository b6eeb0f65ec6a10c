/**
 * @module /1.0/images: list, build, import a rootfs tarball, inspect, delete.
 */
import { rm } from 'node:fs/promises';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { LodgeError } from '../../api/errors.js';
import { Image, ImageImportQuery, ImageList, ImageName, ImagesBuildPost } from '../../api/images.js';
import { Operation } from '../../api/operations.js';
import type { ServerDeps } from '../deps.js';
import { receiveUpload, streamedTypes } from '../uploads.js';

const ImageParams = Type.Object({ name: ImageName });

export function imageRoutes(app: FastifyInstance, { images, tmpDir }: ServerDeps): void {
  app.get('/1.0/images', { schema: { tags: ['images'], response: { 200: ImageList } } }, () => images.list());

  app.post<{ Body: ImagesBuildPost }>(
    '/1.0/images/build',
    { schema: { tags: ['images'], summary: 'Build an image Lodge knows how to make (an operation)', body: ImagesBuildPost, response: { 202: Operation } } },
    async (request, reply) => reply.status(202).send(images.build(request.body)),
  );

  app.post<{ Querystring: ImageImportQuery }>(
    '/1.0/images/import',
    { schema: { tags: ['images'], summary: 'Import a rootfs tarball sent as the body (an operation)', querystring: ImageImportQuery, response: { 202: Operation } } },
    async (request, reply) => {
      if (!streamedTypes.includes(String(request.headers['content-type']).split(';')[0]!)) {
        throw new LodgeError('BAD_REQUEST', `the body must be a tarball sent as ${streamedTypes.join(' or ')}`);
      }
      const file = await receiveUpload(request, reply, tmpDir, 'import');
      try {
        return await reply.status(202).send(images.import(request.query, file));
      } catch (e) {
        await rm(file, { force: true });
        throw e;
      }
    },
  );

  app.get<{ Params: { name: string } }>(
    '/1.0/images/:name',
    { schema: { tags: ['images'], params: ImageParams, response: { 200: Image } } },
    (request) => images.get(request.params.name),
  );

  app.delete<{ Params: { name: string } }>(
    '/1.0/images/:name',
    { schema: { tags: ['images'], params: ImageParams } },
    async (request, reply) => {
      await images.delete(request.params.name);
      return reply.status(204).send();
    },
  );
}
