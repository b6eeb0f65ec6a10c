/**
 * @module /1.0/images: list, build, import a rootfs tarball, inspect, delete.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { LodgeError } from '../../api/errors.js';
import { Image, ImageImportQuery, ImageList, ImageName, ImagesBuildPost } from '../../api/images.js';
import { Operation } from '../../api/operations.js';
import type { ServerDeps } from '../deps.js';

const ImageParams = Type.Object({ name: ImageName });
const tarTypes = ['application/octet-stream', 'application/x-tar', 'application/gzip'];

/**
 * An upload may fill at most 90% of the free space of the state directory, the rest being the host's; a tarball's
 * unpacked size is then held to 90% of what is free after it (images/import.ts).
 */
async function uploadCap(dir: string): Promise<number> {
  const s = await statfs(dir);
  return Math.floor(s.bavail * s.bsize * 0.9);
}

const why = "90% of the free space of lodged's state directory";
const tooLarge = (declared: number, cap: number) => new LodgeError('BAD_REQUEST', `the upload is ${declared} bytes, more than the ${cap} bytes it may take (${why})`);
const grewTooLarge = (cap: number) => new LodgeError('BAD_REQUEST', `the upload passed the ${cap} bytes it may take (${why})`);

/** Passes bytes through until more than `cap` went by, then fails. */
function capped(cap: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      done(seen > cap ? grewTooLarge(cap) : null, chunk);
    },
  });
}

export function imageRoutes(app: FastifyInstance, { images, tmpDir }: ServerDeps): void {
  // tarballs arrive as a stream and go to a file; nothing holds them in memory
  app.addContentTypeParser(tarTypes, (_request, payload, done) => done(null, payload));

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
      if (!tarTypes.includes(String(request.headers['content-type']).split(';')[0]!)) {
        throw new LodgeError('BAD_REQUEST', `the body must be a tarball sent as ${tarTypes.join(' or ')}`);
      }
      // refused whole: the rest of the body is not read, so the connection cannot serve another request
      const refuse = (e: unknown) => {
        void reply.header('connection', 'close');
        throw e;
      };
      const cap = await uploadCap(tmpDir);
      const declared = Number(request.headers['content-length'] ?? 0);
      if (declared > cap) refuse(tooLarge(declared, cap));
      const file = path.join(tmpDir, `import-${randomUUID()}.tar`);
      const counter = capped(cap);
      // piped, not put in the pipeline: a failure must not destroy the request's socket before the answer goes out
      const body = request.body as Readable;
      body.pipe(counter);
      body.once('close', () => body.readableEnded || counter.destroy(new LodgeError('BAD_REQUEST', 'the upload was cut off before its end')));
      try {
        await pipeline(counter, createWriteStream(file));
        return await reply.status(202).send(images.import(request.query, file));
      } catch (e) {
        await rm(file, { force: true });
        // uploads side by side can each fit and fill the disk together
        if ((e as NodeJS.ErrnoException).code === 'ENOSPC') return refuse(new LodgeError('BAD_REQUEST', `the upload filled lodged's state directory; nothing was kept`));
        return refuse(e);
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
