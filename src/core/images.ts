/**
 * @module Images: build the ones Lodge knows how to make, import rootfs tarballs,
 * list and delete. An image is made in a staging directory and put in place whole,
 * so a failed or interrupted build leaves nothing that looks like an image.
 */
import { rename, rm } from 'node:fs/promises';
import { LodgeError } from '../api/errors.js';
import type { Image, ImageImportQuery, ImagesBuildPost } from '../api/images.js';
import type { Operation } from '../api/operations.js';
import { buildBusybox, busyboxImage } from '../images/busybox.js';
import { buildDebian, debianImage } from '../images/debian.js';
import { checkTarball, extractTarball } from '../images/import.js';
import type { ImageFiles } from '../images/store.js';
import type { Events } from './events.js';
import { KeyedLock } from './locks.js';
import type { Operations, Progress } from './operations.js';
import type { ImageRecord, Store } from './store.js';

export interface ImageServiceDeps {
  store: Store;
  files: ImageFiles;
  operations: Operations;
  events: Events;
}

const toApi = (i: ImageRecord): Image => ({ ...i });

export class ImageService {
  private readonly lock = new KeyedLock();
  private readonly deps: ImageServiceDeps;

  constructor(deps: ImageServiceDeps) {
    this.deps = deps;
  }

  list(): Image[] {
    return this.deps.store.images().map(toApi);
  }

  get(name: string): Image {
    const i = this.deps.store.image(name);
    if (!i) throw new LodgeError('NOT_FOUND', `image ${name} not found`);
    return toApi(i);
  }

  private refuseInUse(name: string, what: string): void {
    const users = this.deps.store.imageInUse(name);
    if (users.length > 0) throw new LodgeError('CONFLICT', `cannot ${what} image ${name}: guests use it (${users.join(', ')})`);
  }

  /** Makes an image in staging with `make`, then swaps it in and records it. */
  private async install(name: string, source: string, meta: { init: string; stopSignal: string }, progress: Progress, make: (rootfs: string) => Promise<void>): Promise<void> {
    const { files, store } = this.deps;
    const staging = await files.staging(name);
    try {
      await make(`${staging}/rootfs`);
      progress(90, 'putting the image in place');
      const old = `${files.imageDir(name)}.old`;
      await rename(files.imageDir(name), old).catch(() => {});
      await rename(staging, files.imageDir(name));
      await rm(old, { recursive: true, force: true });
    } catch (e) {
      await rm(staging, { recursive: true, force: true });
      throw e;
    }
    store.upsertImage({ name, ...meta, source, sizeBytes: await files.sizeBytes(name), createdAt: new Date().toISOString() });
    this.deps.events.emit('lifecycle', name, 'image-created');
  }

  build(req: ImagesBuildPost): Operation {
    this.refuseInUse(req.name, 'rebuild');
    return this.deps.operations.start('image.build', req.name, (progress) =>
      this.lock.with(req.name, async () => {
        this.refuseInUse(req.name, 'rebuild');
        progress(5, `building ${req.name}`);
        if (req.name === 'busybox') {
          await this.install(req.name, 'built from Debian busybox-static', busyboxImage, progress, buildBusybox);
        } else {
          await this.install(req.name, 'built with debootstrap (bookworm, minbase, systemd)', debianImage, progress, (rootfs) =>
            buildDebian(rootfs, (step) => progress(20, step)),
          );
        }
      }),
    );
  }

  /** Imports a tarball that the caller has saved to `file`; the file is removed when done. */
  import(query: ImageImportQuery, file: string): Operation {
    if (this.deps.store.image(query.name)) throw new LodgeError('CONFLICT', `image ${query.name} exists already; delete it first`);
    return this.deps.operations.start('image.import', query.name, (progress) =>
      this.lock.with(query.name, async () => {
        try {
          progress(10, 'checking the tarball');
          await checkTarball(file);
          const meta = { init: query.init ?? '/sbin/init', stopSignal: query.stopSignal ?? 'SIGTERM' };
          await this.install(query.name, 'imported from a tarball', meta, progress, async (rootfs) => {
            progress(40, 'extracting');
            await extractTarball(file, rootfs);
          });
        } finally {
          await rm(file, { force: true });
        }
      }),
    );
  }

  async delete(name: string): Promise<void> {
    await this.lock.with(name, async () => {
      this.get(name);
      this.refuseInUse(name, 'delete');
      await this.deps.files.remove(name);
      this.deps.store.deleteImage(name);
      this.deps.events.emit('lifecycle', name, 'image-deleted');
    });
  }
}
