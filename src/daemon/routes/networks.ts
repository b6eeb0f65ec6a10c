/**
 * @module /1.0/networks: list, create, inspect, delete.
 */
import type { FastifyInstance } from 'fastify';
import { NameParams } from '../../api/common.js';
import { Network, NetworkList, NetworksPost } from '../../api/networks.js';
import type { ServerDeps } from '../deps.js';

export function networkRoutes(app: FastifyInstance, { networks }: ServerDeps): void {
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
}
