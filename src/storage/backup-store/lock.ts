/**
 * @module Who is using a store, as files under locks/, since Node has no flock and
 * flock/POSIX locks over NFS depend on lock daemons that a USB disk or an NFS mount may
 * not have. Only exclusive create (O_EXCL), rename and mtime are relied on, all of which
 * NFSv3+ keeps.
 *
 * - Each backup writer registers a record (`writer-<random>.json`: host, boot id, pid
 *   namespace, pid, process start time, when it began). gc reads them to learn when the
 *   oldest running writer began; writers never block each other (a shared lock).
 * - gc and prune take the one maintenance lock (`maintenance.json`, created O_EXCL), so
 *   that two sweeps do not race each other's work; a second one is refused, naming the holder.
 *
 * A holder refreshes its record's mtime every minute. A record is stale when its process
 * is certainly gone (same boot and pid namespace, and the pid no longer names it) or,
 * for a holder on another host, when it has not been refreshed for `staleAfterMs`.
 */
import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { LodgeError } from '../../api/errors.js';
import { bootId, readIdentity } from '../../host/processes.js';
import { errnoIs } from './fs-util.js';
import { paths } from './format.js';

export interface HolderRecord {
  host: string;
  bootId: string;
  pidNs: string;
  pid: number;
  /** Clock ticks after boot (field 22 of /proc/PID/stat). */
  startTime: number;
  /** When the holder began, ms since the epoch. */
  since: number;
  purpose: string;
  /** A writer's backup directory, "<group>/<id>" (gc leaves it alone while the writer lives). */
  backup?: string;
}

export interface Lease {
  readonly file: string;
  readonly record: HolderRecord;
  release(): Promise<void>;
}

const heartbeatMs = 60_000;
export const staleAfterMs = 10 * 60_000;
const maintenanceFile = 'maintenance.json';

function ownRecord(purpose: string): HolderRecord {
  const self = readIdentity(process.pid);
  return {
    host: hostname(),
    bootId: bootId(),
    pidNs: readlinkSync('/proc/self/ns/pid'),
    pid: process.pid,
    startTime: self?.startTime ?? 0,
    since: Date.now(),
    purpose,
  };
}

/** Whether the holder of `record` (whose file was last refreshed at `mtimeMs`) may still run. */
export function holderAlive(record: HolderRecord, mtimeMs: number, now = Date.now()): boolean {
  const own = ownRecord('');
  if (record.bootId === own.bootId && record.pidNs === own.pidNs) return readIdentity(record.pid)?.startTime === record.startTime;
  return now - mtimeMs < staleAfterMs;
}

async function writeRecord(file: string, record: HolderRecord, exclusive: boolean): Promise<void> {
  const fh = await open(file, exclusive ? 'wx' : 'w', 0o644);
  try {
    await fh.writeFile(JSON.stringify(record));
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function leaseOf(file: string, record: HolderRecord): Lease {
  const timer = setInterval(() => {
    const now = new Date();
    utimes(file, now, now).catch(() => undefined);
  }, heartbeatMs);
  timer.unref();
  return {
    file,
    record,
    async release() {
      clearInterval(timer);
      await unlink(file).catch((e) => {
        if (!errnoIs(e, 'ENOENT')) throw e;
      });
    },
  };
}

async function readRecordFile(file: string): Promise<{ record: HolderRecord; mtimeMs: number } | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    return { record: JSON.parse(text) as HolderRecord, mtimeMs: st.mtimeMs };
  } catch (e) {
    if (errnoIs(e, 'ENOENT')) return undefined;
    // a record cut short by a crash: judged by its age alone
    const st = await stat(file).catch(() => undefined);
    return st && { record: { host: '?', bootId: '?', pidNs: '?', pid: 0, startTime: 0, since: st.mtimeMs, purpose: '?' }, mtimeMs: st.mtimeMs };
  }
}

export class StoreLocks {
  readonly dir: string;

  constructor(root: string) {
    this.dir = paths.locks(root);
  }

  /** Registers a backup writer (a shared lock: writers never exclude each other). */
  async registerWriter(purpose: string, backup?: string): Promise<Lease & { setBackup(backup: string): Promise<void> }> {
    await mkdir(this.dir, { recursive: true });
    const file = path.join(this.dir, `writer-${randomBytes(8).toString('hex')}.json`);
    const record: HolderRecord = { ...ownRecord(purpose), ...(backup ? { backup } : {}) };
    await writeRecord(file, record, true);
    const lease = leaseOf(file, record);
    return {
      ...lease,
      async setBackup(backup: string) {
        record.backup = backup;
        await writeRecord(file, record, false);
      },
    };
  }

  /** The writers that may still run; stale records are removed on the way. */
  async liveWriters(): Promise<HolderRecord[]> {
    const live: HolderRecord[] = [];
    let names: string[] = [];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if (!errnoIs(e, 'ENOENT')) throw e;
    }
    for (const name of names.filter((n) => n.startsWith('writer-') && n.endsWith('.json'))) {
      const file = path.join(this.dir, name);
      const found = await readRecordFile(file);
      if (!found) continue;
      if (holderAlive(found.record, found.mtimeMs)) live.push(found.record);
      else await unlink(file).catch(() => undefined);
    }
    return live;
  }

  /** The maintenance lock (gc, prune); refused while another live holder has it. */
  async maintenance(purpose: string): Promise<Lease> {
    await mkdir(this.dir, { recursive: true });
    const file = path.join(this.dir, maintenanceFile);
    const record = ownRecord(purpose);
    for (let attempt = 0; ; attempt++) {
      try {
        await writeRecord(file, record, true);
        return leaseOf(file, record);
      } catch (e) {
        if (!errnoIs(e, 'EEXIST') || attempt > 0) {
          if (errnoIs(e, 'EEXIST')) throw new LodgeError('CONFLICT', `the backup store's maintenance lock ${file} is held`);
          throw e;
        }
      }
      const found = await readRecordFile(file);
      if (found && holderAlive(found.record, found.mtimeMs)) {
        const r = found.record;
        throw new LodgeError('CONFLICT', `the backup store is busy: ${r.purpose} by pid ${r.pid} on ${r.host} since ${new Date(r.since).toISOString()} holds ${file}`);
      }
      // a crashed holder's lock; two takers at once are harmless (concurrent sweeps are safe, see gc.ts)
      await unlink(file).catch(() => undefined);
    }
  }
}
