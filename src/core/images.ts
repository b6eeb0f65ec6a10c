/**
 * @module Images: build the ones Lodge knows how to make, import rootfs tarballs and
 * disk or ISO files, list and delete. An image is made in a staging directory and put in place whole,
 * so a failed or interrupted build leaves nothing that looks like an image.
 */
import { chmod, mkdir, rename, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { LodgeError } from '../api/errors.js';
import type { Image, ImageFormat, ImageImportQuery, ImagesBuildPost } from '../api/images.js';
import type { Operation } from '../api/operations.js';
import { buildBusybox, busyboxImage } from '../images/busybox.js';
import { buildDebian, debianImage } from '../images/debian.js';
import { checkDiskImage, sniffFile, type DiskFormat } from '../images/disk-import.js';
import { checkTarball, extractTarball, limitsFor, unreadableTarball } from '../images/import.js';
import { buildBusyboxIso, busyboxIsoImage } from '../images/iso.js';
import { imageFileName, type ImageFiles } from '../images/store.js';
import type { Events } from './events.js';
import { KeyedLock } from './locks.js';
import type { Operations, Progress } from './operations.js';
import type { ImageRecord, Store } from './store.js';

export interface ImageServiceDeps {
  store: Store;
  files: ImageFiles;
  operations: Operations;
  events: Events;
  /** Where the vm kernels are kept (the ISO image carries one). */
  kernelCacheDir: string;
  /** A static busybox: images are built from it, and tarballs unpacked by its tar. */
  busybox: string;
  /** lodge-unpack (shim/lodge-unpack.c), the confined unpacker of tarballs. */
  unpackHelper: string;
}

interface ImageMeta {
  format: ImageFormat;
  init: string;
  stopSignal: string;
}

const toApi = (i: ImageRecord): Image => ({ ...i });

export class ImageService {
  private readonly lock = new KeyedLock();
  private readonly rebuilding = new Set<string>();
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

  /** Makes an image in staging with `make` (given where its rootfs or file goes), then swaps it in and records it. */
  private async install(name: string, source: string, meta: ImageMeta, progress: Progress, make: (target: string) => Promise<void>): Promise<void> {
    const { files, store } = this.deps;
    const staging = await files.staging(name);
    try {
      const target = path.join(staging, meta.format === 'rootfs' ? 'rootfs' : imageFileName(meta.format));
      if (meta.format === 'rootfs') await mkdir(target);
      await make(target);
      // a disk or ISO is the shared, read-only base of every guest made from it
      if (meta.format !== 'rootfs') await chmod(target, 0o444);
      progress(90, 'putting the image in place');
      const old = files.replaced(name);
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

  /** Whether the image is being rebuilt now: a guest launched from it would have its files swapped under it. */
  beingRebuilt(name: string): boolean {
    return this.rebuilding.has(name);
  }

  build(req: ImagesBuildPost): Operation {
    this.refuseInUse(req.name, 'rebuild');
    return this.deps.operations.start('image.build', req.name, ({ progress }) =>
      this.lock.with(req.name, async () => {
        // checked and marked in one tick: no launch from it gets in between
        this.refuseInUse(req.name, 'rebuild');
        this.rebuilding.add(req.name);
        try {
          await this.make(req.name, progress);
        } finally {
          this.rebuilding.delete(req.name);
        }
      }),
    );
  }

  private make(name: ImagesBuildPost['name'], progress: Progress): Promise<void> {
    progress(5, `building ${name}`);
    const step = (what: string) => progress(20, what);
    switch (name) {
      case 'busybox':
        return this.install(name, 'built from Debian busybox-static', { format: 'rootfs', ...busyboxImage }, progress, buildBusybox);
      case 'debian/12':
        return this.install(name, 'built with debootstrap (bookworm, minbase, systemd)', { format: 'rootfs', ...debianImage }, progress, (rootfs) => buildDebian(rootfs, step));
      case 'busybox-iso':
        return this.install(name, 'a live ISO built with grub-mkrescue (cloud kernel, busybox)', { format: 'iso', ...busyboxIsoImage }, progress, (iso) =>
          buildBusyboxIso(iso, this.deps.kernelCacheDir, this.deps.busybox, step),
        );
    }
  }

  /** Imports a tarball, disk or ISO that the caller has saved to `file`; the file is removed when done. */
  import(query: ImageImportQuery, file: string): Operation {
    if (this.deps.store.image(query.name)) throw new LodgeError('CONFLICT', `image ${query.name} exists already; delete it first`);
    return this.deps.operations.start('image.import', query.name, ({ progress }) =>
      this.lock.with(query.name, async () => {
        try {
          const format = !query.format || query.format === 'auto' ? ((await sniffFile(file)) ?? 'tar') : query.format;
          const meta = { init: query.init ?? '/sbin/init', stopSignal: query.stopSignal ?? 'SIGTERM' };
          if (format === 'tar') {
            progress(10, 'checking the tarball');
            const limits = limitsFor(await this.freeBytes());
            await checkTarball(file, limits).catch((e: Error) => {
              // unreadable as a tarball, in auto mode: say what else it could have been
              if (query.format === 'tar' || !(e instanceof LodgeError && e.message.startsWith(unreadableTarball))) throw e;
              throw new LodgeError('BAD_REQUEST', `not a tarball, a qcow2 disk or an ISO (import a raw disk as format raw: lodge image import --type raw): ${e.message}`);
            });
            await this.install(query.name, 'imported from a tarball', { format: 'rootfs', ...meta }, progress, async (rootfs) => {
              progress(40, 'extracting');
              await extractTarball(file, rootfs, { helper: this.deps.unpackHelper, busybox: this.deps.busybox }, limits);
            });
          } else {
            await this.importDisk(query.name, format, meta, file, progress);
          }
        } finally {
          await rm(file, { force: true });
        }
      }),
    );
  }

  /** The free space where images are kept. */
  private async freeBytes(): Promise<number> {
    const s = await statfs(this.deps.files.dir);
    return s.bavail * s.bsize;
  }

  private async importDisk(name: string, format: DiskFormat, meta: Omit<ImageMeta, 'format'>, file: string, progress: Progress): Promise<void> {
    progress(10, `checking the ${format} file`);
    await checkDiskImage(file, format);
    await this.install(name, `imported ${format === 'iso' ? 'ISO' : `${format} disk`}`, { format, ...meta }, progress, (target) => rename(file, target));
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
