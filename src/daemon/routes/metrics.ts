/**
 * @module GET /1.0/metrics: guests', the host's and lodged's figures in the Prometheus text
 * format (0.0.4), for a Prometheus to scrape over the HTTPS listener with a viewer's token.
 */
import type { FastifyInstance } from 'fastify';
import { formatMetrics, prometheusContentType } from '../../lib/prometheus-text.js';
import type { ServerDeps } from '../deps.js';

export function metricsRoutes(app: FastifyInstance, { metrics }: ServerDeps): void {
  app.get(
    '/1.0/metrics',
    {
      schema: {
        tags: ['metrics'],
        summary: 'Metrics of every guest, the host and lodged, in the Prometheus text format (version 0.0.4)',
        response: { 200: { description: 'the exposition', content: { [prometheusContentType]: { schema: { type: 'string' } } } } },
      },
    },
    async (_request, reply) => reply.type(prometheusContentType).send(formatMetrics(await metrics.families())),
  );
}
