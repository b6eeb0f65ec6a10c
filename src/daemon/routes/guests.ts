/**
 * @module /1.0/guests: list, launch, inspect, change limits, rename, delete, change state.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { NameParams } from '../../api/common.js';
import { Guest, GuestList, GuestListQuery, GuestPatch, GuestRenamePost, GuestsPost, GuestStatePut } from '../../api/guests.js';
import { Operation } from '../../api/operations.js';
import type { ServerDeps } from '../deps.js';

const DeleteQuery = Type.Object({ force: Type.Optional(Type.Boolean()) }, { additionalProperties: false });

export function guestRoutes(app: FastifyInstance, { guests }: ServerDeps): void {
  app.get<{ Querystring: GuestListQuery }>(
    '/1.0/guests',
    { schema: { tags: ['guests'], summary: 'List guests, those that match every filter given', querystring: GuestListQuery, response: { 200: GuestList } } },
    (request) => guests.list(request.query),
  );

  app.post<{ Body: GuestsPost }>(
    '/1.0/guests',
    { schema: { tags: ['guests'], summary: 'Launch a guest (an operation)', body: GuestsPost, response: { 202: Operation } } },
    async (request, reply) => reply.status(202).send(guests.launch(request.body)),
  );

  app.get<{ Params: NameParams }>(
    '/1.0/guests/:name',
    { schema: { tags: ['guests'], params: NameParams, response: { 200: Guest } } },
    (request) => guests.get(request.params.name),
  );

  app.patch<{ Params: NameParams; Body: GuestPatch }>(
    '/1.0/guests/:name',
    { schema: { tags: ['guests'], summary: 'Change limits (live on a running guest)', params: NameParams, body: GuestPatch, response: { 200: Guest } } },
    (request) => guests.update(request.params.name, request.body),
  );

  app.post<{ Params: NameParams; Body: GuestRenamePost }>(
    '/1.0/guests/:name/rename',
    { schema: { tags: ['guests'], summary: 'Rename a stopped guest', params: NameParams, body: GuestRenamePost, response: { 200: Guest } } },
    (request) => guests.rename(request.params.name, request.body.name),
  );

  app.delete<{ Params: NameParams; Querystring: { force?: boolean } }>(
    '/1.0/guests/:name',
    { schema: { tags: ['guests'], summary: 'Delete a guest (an operation)', params: NameParams, querystring: DeleteQuery, response: { 202: Operation } } },
    async (request, reply) => reply.status(202).send(guests.delete(request.params.name, request.query.force ?? false)),
  );

  app.put<{ Params: NameParams; Body: GuestStatePut }>(
    '/1.0/guests/:name/state',
    { schema: { tags: ['guests'], summary: 'Start, stop, restart, pause or resume (an operation)', params: NameParams, body: GuestStatePut, response: { 202: Operation } } },
    async (request, reply) => reply.status(202).send(guests.changeState(request.params.name, request.body)),
  );
}
