/**
 * @module The HTTP server of lodged, built from its dependencies so that tests can run
 * it in-process. Routes parse, call core, and answer; every error goes through one handler,
 * whether a route, Fastify, Node's HTTP parser or a WebSocket raised it. A route that
 * declares no query parameters refuses any, as a body refuses unknown fields. Who may call
 * what is access.ts's: root on the unix socket, a user or token with a role over HTTPS.
 */
import swagger from '@fastify/swagger';
import websocket from '@fastify/websocket';
import { Type } from '@sinclair/typebox';
import Fastify, { type FastifyInstance } from 'fastify';
import { LodgeError } from '../api/errors.js';
import { HostInfo } from '../api/host.js';
import { sessionCookie } from '../api/users.js';
import { authorize, routeAccess } from './access.js';
import type { ServerDeps } from './deps.js';
import { bodyLimit, clientErrorHandler, errorHandler, refuse, socketErrorHandler } from './errors.js';
import { eventRoutes } from './routes/events.js';
import { guestRoutes } from './routes/guests.js';
import { guestIoRoutes } from './routes/guest-io.js';
import { guestFileRoutes } from './routes/guest-files.js';
import { streamedTypes } from './uploads.js';
import { imageRoutes } from './routes/images.js';
import { networkRoutes } from './routes/networks.js';
import { operationRoutes } from './routes/operations.js';
import { storageRoutes } from './routes/storage.js';
import { snapshotRoutes } from './routes/snapshots.js';
import { backupRoutes } from './routes/backups.js';
import { scheduleRoutes } from './routes/schedules.js';
import { volumeRoutes } from './routes/volumes.js';
import { userRoutes } from './routes/users.js';
import { tokenRoutes } from './routes/tokens.js';
import { historyRoutes } from './routes/history.js';
import { metricsRoutes } from './routes/metrics.js';
import { autonomicRoutes } from './routes/autonomic.js';
import { jsonTooDeep, maxJsonDepth, validatorCompiler } from './validation.js';
import { lodgeVersion } from '../api/version.js';

const NoQuery = Type.Object({}, { additionalProperties: false });

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const handleError = errorHandler(deps.log);
  // Fastify's own 503 while closing has its own body shape: lodged answers UNAVAILABLE itself
  // a path parameter up to 256 characters reaches its schema (an image name is up to 127, "/" escaped as %2F)
  const app = Fastify({ logger: false, bodyLimit, forceCloseConnections: true, frameworkErrors: handleError, clientErrorHandler, return503OnClosing: false, routerOptions: { maxParamLength: 256 } });
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async () => {
    if (closing) throw new LodgeError('UNAVAILABLE', 'lodged is shutting down');
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setErrorHandler(handleError);
  app.addHook('onRoute', (route) => {
    // before a refusing wsHandler is added below: a route with one of its own is a WebSocket
    const access = routeAccess(route);
    route.config = { ...route.config, access };
    route.schema = { querystring: NoQuery, ...route.schema, 'x-lodge-role': access, ...(access === 'anyone' ? { security: [] } : {}) };
    // an Upgrade to an endpoint that is no WebSocket gets an answer, not a bare close
    if (route.method === 'GET' && !route.wsHandler) route.wsHandler = (socket) => refuse(socket, new LodgeError('BAD_REQUEST', `${route.url} is not a WebSocket endpoint`));
  });
  // JSON is checked for depth before it is parsed: a schema walks what the parser made
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (jsonTooDeep(body as string)) return done(new LodgeError('BAD_REQUEST', `the request body nests deeper than ${maxJsonDepth} levels`), undefined);
    parseJson(request, body as string, done);
  });
  // tarballs and files arrive as streams and go to files; nothing holds them in memory
  app.addContentTypeParser(streamedTypes, (_request, payload, done) => done(null, payload));
  app.setNotFoundHandler((request, reply) => {
    const e = new LodgeError('NOT_FOUND', `no such endpoint: ${request.method} ${request.url.split('?')[0]}`);
    void reply.status(404).send(e.toBody());
  });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Lodge REST API',
        version: lodgeVersion(),
        description:
          "Guests (vm, pv, ct), images, operations and events of one Lodge host. On the unix socket the caller is root and needs nothing more. Over HTTPS (lodged --listen) every endpoint but login and logout needs a session cookie or a bearer token, whose role must be the endpoint's x-lodge-role: a viewer's reads, an admin's everything.",
      },
      components: { securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: sessionCookie }, token: { type: 'http', scheme: 'bearer' } } },
      security: [{ session: [] }, { token: [] }],
    },
  });
  await app.register(websocket, { errorHandler: socketErrorHandler(deps.log), options: { maxPayload: bodyLimit } });
  // after the WebSocket plugin's own hook, which marks an upgrade so that a refused one's socket is closed
  app.addHook('onRequest', authorize(deps));
  // by the route's pattern: a URL that matched no route is one series, whatever was asked
  app.addHook('onResponse', async (request, reply) => {
    deps.lodgedMetrics.request(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode);
  });
  app.get('/1.0', { schema: { response: { 200: HostInfo } } }, async () => deps.hostInfo());
  app.get('/1.0/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(async (scope) => {
    guestRoutes(scope, deps);
    guestIoRoutes(scope, deps);
    guestFileRoutes(scope, deps);
    imageRoutes(scope, deps);
    networkRoutes(scope, deps);
    operationRoutes(scope, deps);
    storageRoutes(scope, deps);
    volumeRoutes(scope, deps);
    snapshotRoutes(scope, deps);
    backupRoutes(scope, deps);
    scheduleRoutes(scope, deps);
    eventRoutes(scope, deps);
    userRoutes(scope, deps);
    tokenRoutes(scope, deps);
    metricsRoutes(scope, deps);
    historyRoutes(scope, deps);
    autonomicRoutes(scope, deps);
  });
  return app;
}
