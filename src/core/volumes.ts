/**
 * @module Volumes of their own: made in a pool with a size, attached to one guest at a
 * time (GuestService attaches them, under the guest's lock and the volume's), kept when
 * a guest is deleted, and deleted only when no guest has them.
 */
import { LodgeError } from '../api/errors.js';
import { parseSize } from '../api/sizes.js';
import type { Volume, VolumesPost } from '../api/volumes.js';
import { diskVolumeFile, diskVolumeMount, makeDiskVolume, mountDiskVolume, releaseDiskVolume, unmountDiskVolume } from '../storage/disk-volume.js';
import { KeyedLock } from './locks.js';
import type { StorageService } from './storage.js';
import type { AttachmentRecord, Store, VolumeRecord } from './store.js';

export interface VolumeServiceDeps {
  store: Store;
  storage: StorageService;
}

const minimumBytes = 64 * 1024 * 1024;

export class VolumeService {
  private readonly deps: VolumeServiceDeps;
  private readonly lock = new KeyedLock();

  constructor(deps: VolumeServiceDeps) {
    this.deps = deps;
  }

  /** Runs `fn` holding the volume's lock: no create, delete or other attach of it meanwhile. */
  locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.lock.with(name, fn);
  }

  record(name: string): VolumeRecord {
    const v = this.deps.store.customVolume(name);
    if (!v) throw new LodgeError('NOT_FOUND', `volume ${name} not found (lodge volume list shows what there is)`);
    return v;
  }

  /** Its raw disk file, as pv and vm guests get it. */
  file(v: VolumeRecord): string {
    return diskVolumeFile(this.deps.storage.volumePath(v));
  }

  /** Where its filesystem is mounted on the host for a container (mount makes it so). */
  mountDir(v: VolumeRecord): string {
    return diskVolumeMount(this.deps.storage.volumePath(v));
  }

  async mount(v: VolumeRecord): Promise<void> {
    await this.deps.storage.activateVolume(v);
    await mountDiskVolume(this.deps.storage.volumePath(v));
  }

  async unmount(v: VolumeRecord): Promise<void> {
    await unmountDiskVolume(this.deps.storage.volumePath(v));
  }

  /** After a pv or vm guest had it: its file is root's again. */
  async release(v: VolumeRecord): Promise<void> {
    await releaseDiskVolume(this.deps.storage.volumePath(v));
  }

  create(req: VolumesPost): Promise<Volume> {
    return this.locked(req.name, async () => {
      if (this.deps.store.customVolume(req.name)) throw new LodgeError('CONFLICT', `a volume named ${req.name} exists already`);
      const sizeBytes = parseSize(req.size);
      if (sizeBytes === undefined || sizeBytes < minimumBytes) throw new LodgeError('BAD_REQUEST', `size: ${req.size} is not a size of at least 64M`);
      const pool = this.deps.storage.poolFor(req.pool);
      // the row first: a lodged killed while making the volume leaves one that delete removes
      const v = this.deps.store.insertVolume({ pool: pool.name, key: `custom/${req.name}`, content: 'block', sizeBytes });
      try {
        const { dir } = await this.deps.storage.createVolume(v);
        await makeDiskVolume(dir, sizeBytes);
      } catch (e) {
        await this.deps.storage.deleteVolumeFiles(v).catch(() => {});
        this.deps.store.deleteVolume(v.id);
        throw new LodgeError('ENGINE_FAILED', `making volume ${req.name} in storage pool ${pool.name} failed`, { cause: e });
      }
      return this.get(req.name);
    });
  }

  private toApi(v: VolumeRecord, attachment: AttachmentRecord | undefined, usedBytes?: number): Volume {
    return {
      name: v.key.slice('custom/'.length),
      pool: v.pool,
      sizeBytes: v.sizeBytes,
      ...(usedBytes !== undefined ? { usedBytes } : {}),
      ...(attachment ? { attachedTo: { guest: attachment.guest, ...(attachment.path ? { path: attachment.path } : {}), ...(attachment.device ? { device: attachment.device } : {}) } } : {}),
      createdAt: v.createdAt,
    };
  }

  private attachment(v: VolumeRecord): AttachmentRecord | undefined {
    return this.deps.store.attachments({ volumeId: v.id })[0];
  }

  list(): Volume[] {
    return this.deps.store.customVolumes().map((v) => this.toApi(v, this.attachment(v)));
  }

  async get(name: string): Promise<Volume> {
    const v = this.record(name);
    const used = await this.deps.storage.volumeUsage(v).catch(() => undefined);
    return this.toApi(v, this.attachment(v), used);
  }

  delete(name: string): Promise<void> {
    return this.locked(name, async () => {
      const v = this.record(name);
      const attached = this.attachment(v);
      if (attached) throw new LodgeError('CONFLICT', `volume ${name} is attached to ${attached.guest}: detach it first (lodge volume detach ${name} ${attached.guest})`);
      try {
        await this.unmount(v);
        await this.deps.storage.deleteVolumeFiles(v);
      } catch (e) {
        throw new LodgeError('ENGINE_FAILED', `removing volume ${name} failed`, { cause: e });
      }
      this.deps.store.deleteVolume(v.id);
    });
  }
}
