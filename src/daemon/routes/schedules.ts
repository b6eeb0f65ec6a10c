/**
 * @module Schedules of snapshots and backups: all of them at /1.0/schedules, a guest's under
 * /1.0/guests/NAME/schedules (set one of each kind, remove it).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Name, NameParams, StringEnum } from '../../api/common.js';
import { BackupSchedulePut, Schedule, ScheduleList, scheduleKinds, SnapshotSchedulePut } from '../../api/schedules.js';
import type { ServerDeps } from '../deps.js';

const KindParams = Type.Object({ name: Name, kind: StringEnum(scheduleKinds) });
type KindParams = Static<typeof KindParams>;

export function scheduleRoutes(app: FastifyInstance, { schedules }: ServerDeps): void {
  const tags = ['schedules'];
  app.get('/1.0/schedules', { schema: { tags, summary: 'Every schedule of every guest', response: { 200: ScheduleList } } }, () => schedules.list());

  app.get<{ Params: NameParams }>('/1.0/guests/:name/schedules', { schema: { tags, params: NameParams, response: { 200: ScheduleList } } }, (request) => schedules.list(request.params.name));

  app.put<{ Params: NameParams; Body: SnapshotSchedulePut }>(
    '/1.0/guests/:name/schedules/snapshot',
    { schema: { tags, summary: "Take a snapshot of the guest every so often, keeping the schedule's last ones", params: NameParams, body: SnapshotSchedulePut, response: { 200: Schedule } } },
    (request) => schedules.set(request.params.name, 'snapshot', request.body),
  );

  app.put<{ Params: NameParams; Body: BackupSchedulePut }>(
    '/1.0/guests/:name/schedules/backup',
    { schema: { tags, summary: "Back the guest up every so often, pruning its backups in the store", params: NameParams, body: BackupSchedulePut, response: { 200: Schedule } } },
    (request) => schedules.set(request.params.name, 'backup', request.body),
  );

  app.delete<{ Params: KindParams }>('/1.0/guests/:name/schedules/:kind', { schema: { tags, summary: 'Remove a schedule (what it made stays)', params: KindParams } }, async (request, reply) => {
    schedules.remove(request.params.name, request.params.kind);
    return reply.status(204).send();
  });
}
