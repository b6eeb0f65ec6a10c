/**
 * @module The HTTP server of lodged, built from its dependencies so that tests can run
 * it in-process. Routes parse, call core, and answer; every error goes through one handler.
 */
import swagger from '@fastify/swagger';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { LodgeError } from '../api/errors.js';
import { HostInfo } from '../api/host.js';
import type { ServerDeps } from './deps.js';
import { errorHandler } from './errors.js';
import { eventRoutes } from './routes/events.js';
import { guestRoutes } from './routes/guests.js';
import { guestIoRoutes } from './routes/guest-io.js';
import { imageRoutes } from './routes/images.js';
import { networkRoutes } from './routes/networks.js';
import { operationRoutes } from './routes/operations.js';
import { validatorCompiler } from './validation.js';
import { lodgeVersion } from '../api/version.js';

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 1 << 20, forceCloseConnections: true });
  app.setValidatorCompiler(validatorCompiler);
  app.setErrorHandler(errorHandler(deps.log));
  app.setNotFoundHandler((request, reply) => {
    const e = new LodgeError('NOT_FOUND', `no such endpoint: ${request.method} ${request.url.split('?')[0]}`);
    void reply.status(404).send(e.toBody());
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Lodge REST API', version: lodgeVersion(), description: 'Guests (vm, pv, ct), images, operations and events of one Lodge host.' },
    },
  });
  await app.register(websocket);
  app.get('/1.0', { schema: { response: { 200: HostInfo } } }, async () => deps.hostInfo());
  app.get('/1.0/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(async (scope) => {
    guestRoutes(scope, deps);
    guestIoRoutes(scope, deps);
    imageRoutes(scope, deps);
    networkRoutes(scope, deps);
    operationRoutes(scope, deps);
    eventRoutes(scope, deps);
  });
  return app;
}
