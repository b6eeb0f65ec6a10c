/**
 * @module /1.0/networks: list, create, inspect, delete; a guest's port forwards under
 * /1.0/guests/NAME/forwards, and all of the host's at /1.0/forwards.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Name, NameParams, StringEnum } from '../../api/common.js';
import { Forward, ForwardList, ForwardPost, Network, NetworkList, NetworksPost } from '../../api/networks.js';
import type { ServerDeps } from '../deps.js';

const ForwardParams = Type.Object({ name: Name, proto: StringEnum(['tcp', 'udp'] as const), hostPort: Type.Integer({ minimum: 1, maximum: 65535 }) });
type ForwardParams = Static<typeof ForwardParams>;

export function networkRoutes(app: FastifyInstance, { networks, guests }: ServerDeps): void {
  app.get('/1.0/networks', { schema: { tags: ['networks'], response: { 200: NetworkList } } }, () => networks.list());

  app.post<{ Body: NetworksPost }>(
    '/1.0/networks',
    { schema: { tags: ['networks'], summary: 'Create a network: a bridge, its address plan, DHCP and DNS', body: NetworksPost, response: { 201: Network } } },
    async (request, reply) => reply.status(201).send(await networks.create(request.body)),
  );

  app.get<{ Params: NameParams }>(
    '/1.0/networks/:name',
    { schema: { tags: ['networks'], params: NameParams, response: { 200: Network } } },
    (request) => networks.get(request.params.name),
  );

  app.delete<{ Params: NameParams }>(
    '/1.0/networks/:name',
    { schema: { tags: ['networks'], summary: 'Delete a network that no guest uses', params: NameParams } },
    async (request, reply) => {
      await networks.delete(request.params.name);
      return reply.status(204).send();
    },
  );

  app.get('/1.0/forwards', { schema: { tags: ['networks'], summary: "Every port forward of the host's guests, with each guest's network", response: { 200: ForwardList } } }, () => networks.forwards());

  app.get<{ Params: NameParams }>(
    '/1.0/guests/:name/forwards',
    { schema: { tags: ['networks'], summary: "A guest's port forwards", params: NameParams, response: { 200: ForwardList } } },
    (request) => guests.forwards(request.params.name),
  );

  app.post<{ Params: NameParams; Body: ForwardPost }>(
    '/1.0/guests/:name/forwards',
    { schema: { tags: ['networks'], summary: "Forward a host port to the guest's eth0 (removed with the guest)", params: NameParams, body: ForwardPost, response: { 201: Forward } } },
    async (request, reply) => reply.status(201).send(await guests.addForward(request.params.name, request.body)),
  );

  app.delete<{ Params: ForwardParams }>(
    '/1.0/guests/:name/forwards/:proto/:hostPort',
    { schema: { tags: ['networks'], summary: 'Remove a port forward', params: ForwardParams } },
    async (request, reply) => {
      await guests.removeForward(request.params.name, request.params.proto, request.params.hostPort);
      return reply.status(204).send();
    },
  );
}
