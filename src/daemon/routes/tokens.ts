/**
 * @module /1.0/tokens: API tokens for scripts and remote CLIs (add, answered once; list; delete).
 */
import type { FastifyInstance } from 'fastify';
import { NameParams } from '../../api/common.js';
import { TokenCreated, TokenList, TokensPost } from '../../api/tokens.js';
import type { ServerDeps } from '../deps.js';

export function tokenRoutes(app: FastifyInstance, { tokens }: ServerDeps): void {
  const tags = ['tokens'];
  app.get('/1.0/tokens', { schema: { tags, summary: 'The API tokens (never their secrets)', response: { 200: TokenList } } }, () => tokens.list());

  app.post<{ Body: TokensPost }>(
    '/1.0/tokens',
    { schema: { tags, summary: 'Make an API token, answered this once (only its hash is kept): send it as Authorization: Bearer TOKEN', body: TokensPost, response: { 201: TokenCreated } } },
    async (request, reply) => reply.status(201).send(tokens.add(request.body, request.principal!)),
  );

  app.delete<{ Params: NameParams }>('/1.0/tokens/:name', { schema: { tags, summary: 'Delete an API token: it stops working at once', params: NameParams } }, async (request, reply) => {
    tokens.delete(request.params.name);
    return reply.status(204).send();
  });
}
