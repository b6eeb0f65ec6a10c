/**
 * @module Snapshots of guests: the guest's root volume kept by its pool as it is at a point
 * in time (instantly on btrfs, a sparse copy on a dir pool, the guest paused meanwhile),
 * with its limits then; restored over the guest, or copied into a new one (guests.ts).
 * Bytes are made before the row and go after it: a lodged killed in between leaves bytes
 * without a row, which the next start removes.
 */
import { LodgeError } from '../api/errors.js';
import type { Operation } from '../api/operations.js';
import type { Snapshot, SnapshotsPost } from '../api/snapshots.js';
import { hasMemory } from '../drivers/driver.js';
import type { DriverRegistry } from '../drivers/registry.js';
import { Revert } from '../lib/revert.js';
import type { Events } from './events.js';
import type { GuestService, LockedGuest } from './guests.js';
import { resolveLimits } from './limits.js';
import type { Operations } from './operations.js';
import type { StorageService } from './storage.js';
import type { GuestRecord, SnapshotRecord, Store, VolumeRecord } from './store.js';

/** What scheduled snapshots are named by. */
export const autoPrefix = 'auto-';

export interface SnapshotServiceDeps {
  store: Store;
  guests: GuestService;
  storage: StorageService;
  drivers: DriverRegistry;
  operations: Operations;
  events: Events;
  log: (message: string) => void;
}

export class SnapshotService {
  private readonly deps: SnapshotServiceDeps;

  constructor(deps: SnapshotServiceDeps) {
    this.deps = deps;
  }

  private guest(name: string): GuestRecord {
    const g = this.deps.store.guest(name);
    if (!g) throw new LodgeError('NOT_FOUND', `guest ${name} not found`);
    return g;
  }

  private rootOf(g: GuestRecord): VolumeRecord {
    return this.deps.guests.rootOf(g.name);
  }

  private find(g: GuestRecord, snapshot: string): SnapshotRecord {
    const s = this.deps.store.snapshots(g.id).find((s) => s.name === snapshot);
    if (!s) throw new LodgeError('NOT_FOUND', `${g.name} has no snapshot ${snapshot} (lodge snapshot list ${g.name})`);
    return s;
  }

  private toApi(g: GuestRecord, s: SnapshotRecord, usedBytes?: number): Snapshot {
    return { name: s.name, guest: g.name, createdAt: s.createdAt, stateful: s.stateful, guestState: s.guestState, limits: s.limits, ...(usedBytes !== undefined ? { usedBytes } : {}) };
  }

  list(name: string): Snapshot[] {
    const g = this.guest(name);
    return this.deps.store.snapshots(g.id).map((s) => this.toApi(g, s));
  }

  async get(name: string, snapshot: string): Promise<Snapshot> {
    const g = this.guest(name);
    const s = this.find(g, snapshot);
    const used = await this.deps.storage.snapshotUsage(this.rootOf(g), s.name).catch(() => undefined);
    return this.toApi(g, s, used);
  }

  /** The first free name of snap0, snap1, ... */
  private nextName(g: GuestRecord): string {
    const taken = new Set(this.deps.store.snapshots(g.id).map((s) => s.name));
    let i = 0;
    while (taken.has(`snap${i}`)) i++;
    return `snap${i}`;
  }

  /** Checks what can be checked before the operation starts, and again under the guest's lock. */
  private checkCreate(g: GuestRecord, name: string, req: SnapshotsPost): void {
    this.rootOf(g);
    if (this.deps.store.snapshots(g.id).some((s) => s.name === name)) throw new LodgeError('CONFLICT', `${g.name} has a snapshot ${name} already`);
    if (req.stateful) {
      this.deps.drivers.require(g.kind, 'statefulSnapshot', g.name);
      if (g.state !== 'running' && g.state !== 'paused') throw new LodgeError('CONFLICT', `stateful: ${g.name} is ${g.state}: a stateful snapshot keeps the memory of a running guest`);
      // its memory would hold what it cached of disks the snapshot does not keep
      const volumes = this.deps.store.attachments({ guestId: g.id });
      if (volumes.length > 0) throw new LodgeError('CONFLICT', `stateful: ${g.name} has volumes attached (${volumes.map((a) => a.volume.key.slice('custom/'.length)).join(', ')}), which a snapshot does not keep while its memory would remember them: detach them first`);
    }
  }

  /** Takes a snapshot; names starting with `auto-` are a schedule's (`scheduled`), which deletes its old ones. */
  create(name: string, req: SnapshotsPost, scheduled = false): Operation {
    const g = this.guest(name);
    if (!scheduled && req.name?.startsWith(autoPrefix)) throw new LodgeError('BAD_REQUEST', `name: ${req.name}: names starting with ${autoPrefix} are those of scheduled snapshots, which their schedule deletes`);
    const snapshot = req.name ?? this.nextName(g);
    this.checkCreate(g, snapshot, req);
    return this.deps.operations.start('snapshot.create', name, ({ progress, signal }) =>
      this.deps.guests.withLocked(name, async (locked) => {
        const g = locked.record;
        this.checkCreate(g, snapshot, req);
        const volume = this.rootOf(g);
        const guestState = g.state;
        const revert = new Revert();
        revert.add('the snapshot\'s bytes', () => this.deps.storage.deleteVolumeSnapshot(volume, snapshot));
        try {
          await locked.quiesced(`snapshot ${snapshot} being taken`, async () => {
            if (req.stateful) {
              const driver = locked.driver;
              if (!hasMemory(driver)) throw new LodgeError('UNSUPPORTED', `the ${g.kind} driver declares statefulSnapshot but cannot save a guest's memory`);
              progress(10, 'saving its memory');
              await driver.saveMemory(locked.spec, await this.deps.storage.snapshotMemoryFile(volume, snapshot), signal);
            }
            progress(60, `keeping the root volume as snapshot ${snapshot}`);
            await this.deps.storage.snapshotVolume(volume, snapshot, signal);
          });
          this.deps.store.insertSnapshot({ guestId: g.id, name: snapshot, stateful: req.stateful === true, guestState, limits: g.limits });
          revert.success();
        } catch (e) {
          await revert.fail(this.deps.log);
          throw e instanceof LodgeError ? e : new LodgeError('ENGINE_FAILED', `snapshotting ${name} failed`, { cause: e });
        }
        this.deps.events.emit('lifecycle', name, 'updated', { snapshot, created: true });
      }),
      { cancellable: true },
    );
  }

  /**
   * Puts the guest back as the snapshot keeps it: its root volume and its limits. A running
   * guest is stopped (killed: what it has now is being thrown away) and started again; a
   * stateful snapshot brings the guest back running, from the memory it keeps.
   */
  restore(name: string, snapshot: string): Operation {
    this.find(this.guest(name), snapshot);
    return this.deps.operations.start('snapshot.restore', name, ({ progress, signal }) =>
      this.deps.guests.withLocked(name, async (locked) => {
        const g = locked.record;
        const s = this.find(g, snapshot);
        if (g.state === 'creating') throw new LodgeError('CONFLICT', `cannot restore ${name}: it is being made`);
        const volume = this.rootOf(g);
        const wasLive = g.state === 'running' || g.state === 'paused';
        try {
          if (wasLive) {
            progress(10, 'stopping it (killed: its present state is being thrown away)');
            await locked.driver.stop(locked.spec, { timeoutMs: 0, force: true, stopSignal: 'SIGKILL' });
            locked.setState('stopped', `stopped to restore snapshot ${snapshot}`);
          }
          progress(30, `restoring its root volume from snapshot ${snapshot}`);
          await this.deps.storage.restoreVolume(volume, snapshot, signal);
          this.deps.store.setGuestLimits(g.id, s.limits);
          g.limits = s.limits;
          locked.spec.limits = resolveLimits(s.limits, Number.MAX_SAFE_INTEGER);
        } catch (e) {
          throw e instanceof LodgeError ? e : new LodgeError('ENGINE_FAILED', `restoring ${name} from snapshot ${snapshot} failed`, { cause: e });
        }
        this.deps.events.emit('lifecycle', name, 'updated', { snapshot, restored: true });
        if (s.stateful) await this.startAgain(locked, name, progress, signal, await this.deps.storage.snapshotMemoryFile(volume, snapshot));
        else if (wasLive) await this.startAgain(locked, name, progress, signal);
      }),
      { cancellable: true },
    );
  }

  private async startAgain(locked: LockedGuest, name: string, progress: (p: number, step: string) => void, signal: AbortSignal, memory?: string): Promise<void> {
    progress(70, memory ? 'starting it from the memory the snapshot keeps' : 'starting it again');
    const revert = new Revert();
    try {
      await locked.start({ signal, progress, revert }, memory);
      revert.success();
      locked.setState('running');
    } catch (e) {
      await revert.fail(this.deps.log);
      const error = e instanceof LodgeError ? e : new LodgeError('ENGINE_FAILED', `starting ${name} again after the restore failed`, { cause: e });
      locked.setState('error', `restored, but starting it again failed: ${error.message}`);
      throw error;
    }
  }

  delete(name: string, snapshot: string): Promise<void> {
    this.find(this.guest(name), snapshot);
    return this.deps.guests.withLocked(name, async (locked) => {
      const g = locked.record;
      const s = this.find(g, snapshot);
      // the row first: a lodged killed before the bytes are gone leaves bytes without a row, which its next start removes
      this.deps.store.deleteSnapshot(s.id);
      await this.deps.storage.deleteVolumeSnapshot(this.rootOf(g), snapshot).catch((e: Error) => this.deps.log(`${name}: removing the bytes of snapshot ${snapshot} failed (the next start tries again): ${e.message}`));
      this.deps.events.emit('lifecycle', name, 'updated', { snapshot, deleted: true });
    });
  }

  /** At start: bytes of snapshots without a row (a create or a delete cut short) go; rows whose bytes are gone go too, said. */
  async sweep(): Promise<void> {
    for (const g of this.deps.store.guests()) {
      const volume = this.deps.store.rootVolume(g.id);
      if (!volume) continue;
      try {
        const rows = this.deps.store.snapshots(g.id);
        const present = new Set(await this.deps.storage.volumeSnapshots(volume));
        for (const name of present) {
          if (rows.some((s) => s.name === name)) continue;
          this.deps.log(`${g.name}: removing snapshot ${name}: its making or its delete was cut short`);
          await this.deps.storage.deleteVolumeSnapshot(volume, name);
        }
        for (const s of rows) {
          if (present.has(s.name)) continue;
          this.deps.log(`${g.name}: snapshot ${s.name} is gone from storage pool ${volume.pool}: forgetting it`);
          this.deps.store.deleteSnapshot(s.id);
        }
      } catch (e) {
        this.deps.log(`${g.name}: checking its snapshots failed: ${(e as Error).message}`);
      }
    }
  }
}
