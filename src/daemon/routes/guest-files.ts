/**
 * @module /1.0/guests/NAME/files: a file's bytes into a guest (POST, the body) and out of
 * it (GET, the answer, with its mode and owner in headers). Both go through a file in
 * lodged's scratch directory, never whole in memory.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { NameParams } from '../../api/common.js';
import { fileHeaders, FilePullQuery, FilePushQuery, formatMode, GuestFile } from '../../api/files.js';
import { LodgeError } from '../../api/errors.js';
import type { ServerDeps } from '../deps.js';
import { receiveUpload, scratchCap } from '../uploads.js';

const octetStream = 'application/octet-stream';

export function guestFileRoutes(app: FastifyInstance, { guests, tmpDir }: ServerDeps): void {
  app.get<{ Params: NameParams; Querystring: FilePullQuery }>(
    '/1.0/guests/:name/files',
    {
      schema: {
        tags: ['guests'],
        summary: "A guest's file: its bytes, with its mode, uid and gid (the guest's own ids) in x-lodge-file-* headers",
        params: NameParams,
        querystring: FilePullQuery,
      },
    },
    async (request, reply) => {
      const dest = path.join(tmpDir, `pull-${randomUUID()}`);
      try {
        const info = await guests.pullFile(request.params.name, request.query.path, dest, await scratchCap(tmpDir));
        const stream = createReadStream(dest);
        // the file goes once it has been sent, or the client went away
        stream.once('close', () => void rm(dest, { force: true }));
        return await reply
          .header('content-type', octetStream)
          .header('content-length', info.sizeBytes)
          .header(fileHeaders.mode, formatMode(info.mode))
          .header(fileHeaders.uid, info.uid)
          .header(fileHeaders.gid, info.gid)
          .send(stream);
      } catch (e) {
        await rm(dest, { force: true });
        throw e;
      }
    },
  );

  app.post<{ Params: NameParams; Querystring: FilePushQuery }>(
    '/1.0/guests/:name/files',
    {
      schema: {
        tags: ['guests'],
        summary: 'Write the body into a file of a guest, running or stopped, replacing what was at its path',
        params: NameParams,
        querystring: FilePushQuery,
        response: { 200: GuestFile },
      },
    },
    async (request, reply): Promise<GuestFile> => {
      if (String(request.headers['content-type']).split(';')[0] !== octetStream) throw new LodgeError('BAD_REQUEST', `the body must be the file's bytes, sent as ${octetStream}`);
      const q = request.query;
      const source = await receiveUpload(request, reply, tmpDir, 'push');
      try {
        const info = await guests.pushFile(request.params.name, {
          path: q.path,
          source,
          ...(q.mode !== undefined ? { mode: parseInt(q.mode, 8) } : {}),
          ...(q.uid !== undefined ? { uid: q.uid } : {}),
          ...(q.gid !== undefined ? { gid: q.gid } : {}),
          parents: q.parents ?? false,
        });
        return { path: q.path, mode: formatMode(info.mode), uid: info.uid, gid: info.gid, sizeBytes: info.sizeBytes };
      } finally {
        await rm(source, { force: true });
      }
    },
  );
}
