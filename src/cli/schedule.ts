/**
 * @module What `lodge snapshot schedule` and `lodge backup schedule` share: set a guest's
 * schedule of one kind, remove it, or show it.
 */
import type { BackupSchedulePut, ScheduleKind, SnapshotSchedulePut } from '../api/schedules.js';
import type { LodgeClient } from '../client/index.js';
import { printFields } from './output.js';

export async function schedule(c: LodgeClient, guest: string, kind: ScheduleKind, off: boolean | undefined, set: SnapshotSchedulePut | BackupSchedulePut | undefined): Promise<void> {
  if (off) {
    await c.schedules.remove(guest, kind);
    return void process.stderr.write(`${guest} has no ${kind} schedule now (what it made stays)\n`);
  }
  if (set) {
    const s = kind === 'snapshot' ? await c.schedules.snapshots(guest, set as SnapshotSchedulePut) : await c.schedules.backups(guest, set as BackupSchedulePut);
    return void process.stderr.write(`${guest}: a ${kind} every ${s.every}, the first at ${s.nextRunAt}\n`);
  }
  const s = (await c.schedules.list(guest)).find((x) => x.kind === kind);
  if (!s) return void process.stderr.write(`${guest} has no ${kind} schedule (--every sets one)\n`);
  printFields([
    ['Every', s.every],
    ['Keeps', Object.entries(s.keep).map(([k, v]) => `${k}=${v}`).join(' ')],
    ['Last run', s.lastRunAt ? `${s.lastRunAt}: ${s.lastResult ?? 'under way'}` : 'not yet'],
    ['Next run', s.nextRunAt],
  ]);
}
