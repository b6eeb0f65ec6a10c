/**
 * @module The autonomic loop: what it does (a viewer's read), its last actions with their
 * reasons, and pausing or resuming it (admin).
 */
import type { FastifyInstance } from 'fastify';
import { AutonomicLog, AutonomicLogQuery, AutonomicStatus } from '../../api/autonomic.js';
import type { ServerDeps } from '../deps.js';

export function autonomicRoutes(app: FastifyInstance, { autonomic }: ServerDeps): void {
  const tags = ['autonomic'];
  app.get('/1.0/autonomic', { schema: { tags, summary: "What the loop does: each running guest's memory floor, allocation and ceiling; guests with a restart policy, their restarts, the next due", response: { 200: AutonomicStatus } } }, () => autonomic.status());
  app.get<{ Querystring: AutonomicLogQuery }>(
    '/1.0/autonomic/log',
    { schema: { tags, summary: "The loop's last actions, newest first, each with its reason", querystring: AutonomicLogQuery, response: { 200: AutonomicLog } } },
    (request) => autonomic.actions(request.query.limit ?? 20),
  );
  app.post('/1.0/autonomic/pause', { schema: { tags, summary: 'Pause the loop: it takes no action (what comes due waits) until resumed', response: { 200: AutonomicStatus } } }, () => autonomic.pause());
  app.post('/1.0/autonomic/resume', { schema: { tags, summary: 'Resume the loop: what came due meanwhile is done now', response: { 200: AutonomicStatus } } }, () => autonomic.resume());
}
