/**
 * @module /1.0/operations: list, inspect, wait for and cancel long actions.
 */
import type { FastifyInstance } from 'fastify';
import { Operation, OperationList, OperationParams, WaitQuery } from '../../api/operations.js';
import type { ServerDeps } from '../deps.js';

export function operationRoutes(app: FastifyInstance, { operations }: ServerDeps): void {
  app.get('/1.0/operations', { schema: { tags: ['operations'], response: { 200: OperationList } } }, () => operations.list());

  app.get<{ Params: { id: string } }>(
    '/1.0/operations/:id',
    { schema: { tags: ['operations'], params: OperationParams, response: { 200: Operation } } },
    (request) => operations.get(request.params.id),
  );

  app.delete<{ Params: { id: string } }>(
    '/1.0/operations/:id',
    {
      schema: {
        tags: ['operations'],
        summary: 'Cancel a running launch or start: it stops at its next step and undoes what it made (wait for it to end)',
        params: OperationParams,
        response: { 202: Operation },
      },
    },
    async (request, reply) => reply.status(202).send(operations.cancel(request.params.id)),
  );

  app.get<{ Params: { id: string }; Querystring: { timeout?: number } }>(
    '/1.0/operations/:id/wait',
    { schema: { tags: ['operations'], summary: 'Wait until the operation ends (or the timeout, in seconds, passes)', params: OperationParams, querystring: WaitQuery, response: { 200: Operation } } },
    (request) => operations.wait(request.params.id, (request.query.timeout ?? 3600) * 1000),
  );
}
