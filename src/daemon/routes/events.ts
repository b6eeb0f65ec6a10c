/**
 * @module /1.0/events: a stream of events, one JSON object per line, for as long as the
 * client keeps the connection and reads what comes (one that stops reading is dropped).
 */
import type { FastifyInstance } from 'fastify';
import type { ServerDeps } from '../deps.js';

/** Events waiting for one subscriber, above which it is dropped. */
const maxBacklog = 1 << 20;

export function eventRoutes(app: FastifyInstance, { events }: ServerDeps): void {
  app.get('/1.0/events', { schema: { tags: ['events'], summary: 'Lifecycle and operation events as newline-delimited JSON' } }, (request, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    reply.raw.write('\n'); // the headers go out now, so a client knows it is subscribed
    const unsubscribe = events.subscribe((e) => {
      if (!reply.raw.writable) return;
      if (reply.raw.writableLength > maxBacklog) {
        // a subscriber that stopped reading is dropped, rather than held in lodged's memory
        unsubscribe();
        return void reply.raw.destroy();
      }
      reply.raw.write(`${JSON.stringify(e)}\n`);
    });
    request.raw.on('close', unsubscribe);
    // a client gone mid-write ends its subscription, never lodged
    reply.raw.on('error', unsubscribe);
  });
}
