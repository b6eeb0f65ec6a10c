/**
 * @module /1.0/volumes: list, create, inspect, delete; and a guest's volumes under
 * /1.0/guests/NAME/volumes (attach, detach).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Name, NameParams } from '../../api/common.js';
import { GuestVolumePost, Volume, VolumeList, VolumesPost } from '../../api/volumes.js';
import type { ServerDeps } from '../deps.js';

const AttachmentParams = Type.Object({ name: Name, volume: Name });
type AttachmentParams = Static<typeof AttachmentParams>;

export function volumeRoutes(app: FastifyInstance, { volumes, guests }: ServerDeps): void {
  app.get('/1.0/volumes', { schema: { tags: ['storage'], response: { 200: VolumeList } } }, () => volumes.list());

  app.post<{ Body: VolumesPost }>(
    '/1.0/volumes',
    { schema: { tags: ['storage'], summary: 'Create a volume: an ext4 filesystem of its size in a pool, for any kind of guest', body: VolumesPost, response: { 201: Volume } } },
    async (request, reply) => reply.status(201).send(await volumes.create(request.body)),
  );

  app.get<{ Params: NameParams }>('/1.0/volumes/:name', { schema: { tags: ['storage'], params: NameParams, response: { 200: Volume } } }, (request) => volumes.get(request.params.name));

  app.delete<{ Params: NameParams }>(
    '/1.0/volumes/:name',
    { schema: { tags: ['storage'], summary: 'Delete a volume that no guest has', params: NameParams } },
    async (request, reply) => {
      await volumes.delete(request.params.name);
      return reply.status(204).send();
    },
  );

  app.post<{ Params: NameParams; Body: GuestVolumePost }>(
    '/1.0/guests/:name/volumes',
    {
      schema: {
        tags: ['storage'],
        summary: 'Attach a volume: a stopped ct sees it mounted at path when it starts; a pv or vm guest gets a disk, hot-plugged while it runs',
        params: NameParams,
        body: GuestVolumePost,
        response: { 200: Volume },
      },
    },
    (request) => guests.attachVolume(request.params.name, request.body),
  );

  app.delete<{ Params: AttachmentParams }>(
    '/1.0/guests/:name/volumes/:volume',
    { schema: { tags: ['storage'], summary: 'Detach a volume (it is kept)', params: AttachmentParams } },
    async (request, reply) => {
      await guests.detachVolume(request.params.name, request.params.volume);
      return reply.status(204).send();
    },
  );
}
