/**
 * @module The client side of schedules of snapshots and backups.
 */
import type { BackupSchedulePut, Schedule, ScheduleKind, SnapshotSchedulePut } from '../api/schedules.js';
import type { Transport } from './http.js';

const at = (guest: string) => `/1.0/guests/${encodeURIComponent(guest)}/schedules`;

export class SchedulesClient {
  private readonly t: Transport;
  constructor(t: Transport) {
    this.t = t;
  }

  list = (guest?: string) => this.t.request<Schedule[]>('GET', guest ? at(guest) : '/1.0/schedules');
  snapshots = (guest: string, body: SnapshotSchedulePut) => this.t.request<Schedule>('PUT', `${at(guest)}/snapshot`, { body });
  backups = (guest: string, body: BackupSchedulePut) => this.t.request<Schedule>('PUT', `${at(guest)}/backup`, { body });
  remove = (guest: string, kind: ScheduleKind) => this.t.request<void>('DELETE', `${at(guest)}/${kind}`);
}
