/**
 * @module The history lodged keeps in memory: GET /1.0/history (the host, and each running
 * guest's latest figures) and GET /1.0/guests/:name/history (one guest's last hour).
 */
import type { FastifyInstance } from 'fastify';
import { NameParams } from '../../api/common.js';
import { GuestHistory, HostHistory } from '../../api/history.js';
import type { ServerDeps } from '../deps.js';

export function historyRoutes(app: FastifyInstance, { history }: ServerDeps): void {
  app.get(
    '/1.0/history',
    { schema: { tags: ['history'], summary: "The host's CPU, memory, disk and load over the last hour, and each running guest's latest figures", response: { 200: HostHistory } } },
    () => history.hostHistory(),
  );
  app.get<{ Params: NameParams }>(
    '/1.0/guests/:name/history',
    { schema: { tags: ['history'], summary: "A guest's CPU, memory, disk and network rates over the last hour (kept in memory since lodged started)", params: NameParams, response: { 200: GuestHistory } } },
    (request) => history.guest(request.params.name),
  );
}
