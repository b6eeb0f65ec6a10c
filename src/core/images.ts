/**
 * @module Images: build the ones Lodge knows how to make, import rootfs tarballs and
 * disk or ISO files, list and delete; and the bases made from them for guests
 * (images/derived.ts), which belong to their image: made once, counted in its size, removed
 * with it. An image is made in a staging directory and put in place whole, so a failed or
 * interrupted build leaves nothing that looks like an image. A rebuild puts a new version of
 * the content in place while guests use the old one: it stays aside for them, with the bases
 * made from it, until the last of those guests goes.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, realpath, rename, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { LodgeError } from '../api/errors.js';
import type { Image, ImageFormat, ImageImportQuery, ImagesBuildPost } from '../api/images.js';
import type { Operation } from '../api/operations.js';
import type { ImageBases } from '../drivers/driver.js';
import { buildBusybox, busyboxImage } from '../images/busybox.js';
import { buildDebian, debianImage } from '../images/debian.js';
import { baseFile, bytesOnHost, isBaseFile, makeBase, type Derivation } from '../images/derived.js';
import { checkDiskImage, sniffFile, type DiskFormat } from '../images/disk-import.js';
import { checkTarball, extractTarball, limitsFor, unreadableTarball } from '../images/import.js';
import { compressionOfFile, decompressTarball, plainTarballBytes } from '../images/decompress.js';
import { buildBusyboxIso, busyboxIsoImage } from '../images/iso.js';
import { imageFileName, newContentId, type ImageFiles } from '../images/store.js';
import { Inflight } from '../lib/inflight.js';
import type { Events } from './events.js';
import { KeyedLock } from './locks.js';
import type { Operations, Progress } from './operations.js';
import type { ImageFileRecord, ImageRecord, Store } from './store.js';

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

export class ImageService {
  /** Per image: a build, an import or a delete at a time. */
  private readonly lock = new KeyedLock();
  /** Per image: a new version put in place, its bases made or removed, one at a time. */
  private readonly contents = new KeyedLock();
  /** Bases being made, by path: launches that ask for one at once wait for one make. */
  private readonly making = new Inflight<string>();
  private readonly rebuilding = new Set<string>();
  private readonly deps: ImageServiceDeps;

  constructor(deps: ImageServiceDeps) {
    this.deps = deps;
  }

  list(): Image[] {
    const files = this.deps.store.imageFiles();
    return this.deps.store.images().map((i) => this.toApi(i, files.filter((f) => f.image === i.name)));
  }

  get(name: string): Image {
    const i = this.deps.store.image(name);
    if (!i) throw new LodgeError('NOT_FOUND', `image ${name} not found`);
    return this.toApi(i, this.deps.store.imageFiles(name));
  }

  /** An image's size counts its bases, whichever version they were made from, and its earlier versions. */
  private toApi(i: ImageRecord, files: ImageFileRecord[]): Image {
    const { content, ...rest } = i;
    const bases = files.filter((f) => f.role === 'base');
    const sum = (of: ImageFileRecord[]) => of.reduce((s, f) => s + f.sizeBytes, 0);
    const derivedBytes = sum(bases);
    const earlierBytes = sum(files.filter((f) => f.role === 'version'));
    const dir = this.deps.files.imageDir(i.name);
    return {
      ...rest,
      sizeBytes: i.sizeBytes + derivedBytes + earlierBytes,
      derivedBytes,
      earlierBytes,
      bases: bases.map((b) => ({ path: path.join(dir, b.file), sizeBytes: b.sizeBytes, current: b.content === content })),
    };
  }

  /** Where the content of version `content` of an image is: in place if it is the current one, else aside (undefined once it is gone). */
  private contentOf(image: ImageRecord, content: string): string | undefined {
    if (content === image.content) return this.deps.files.content(image.name, image.format);
    const kept = this.deps.store.imageFiles(image.name).find((f) => f.role === 'version' && f.content === content);
    return kept && path.join(this.deps.files.imageDir(image.name), kept.file);
  }

  /** Where version `content` of image `name` is on this host (its rootfs, or its disk or ISO file) and its format; undefined when it is not here. */
  versionOf(name: string, content: string): { path: string; format: ImageFormat } | undefined {
    const image = this.deps.store.image(name);
    const at = image && this.contentOf(image, content);
    return at ? { path: at, format: image.format } : undefined;
  }

  /** Whether this host has version `content` of image `name`: its current one, or an earlier one kept for guests. */
  hasContent(name: string, content: string): boolean {
    const image = this.deps.store.image(name);
    return image !== undefined && this.contentOf(image, content) !== undefined;
  }

  /** What a guest made from version `content` of image `name` boots from: the image's disk or ISO of that version, and its bases. */
  forGuest(name: string, content: string): { file?: string; bases: ImageBases } {
    const image = this.deps.store.image(name);
    const file = image && image.format !== 'rootfs' ? (this.contentOf(image, content) ?? this.deps.files.file(name, image.format)) : undefined;
    return {
      ...(file ? { file } : {}),
      bases: { ensure: (d) => this.base(name, content, d), which: (file, as) => this.whichBase(name, file, as) },
    };
  }

  /**
   * The base of version `content` of image `name` made by `d`: there already, or made from
   * that version (in place or aside); recorded with the image either way.
   */
  private async base(name: string, content: string, d: Derivation): Promise<string> {
    const file = baseFile(content, d);
    const target = path.join(this.deps.files.imageDir(name), file);
    if (existsSync(target) && this.deps.store.imageFiles(name).some((f) => f.file === file)) return target;
    return this.making.run(target, () =>
      // no new version is put in place while a base is made from the current one
      this.contents.with(name, async () => {
        const image = this.deps.store.image(name);
        if (!image) throw new LodgeError('NOT_FOUND', `image ${name} not found`);
        if (image.format !== 'rootfs') throw new Error(`image ${name} is a ${image.format} file: no base is made from it`);
        const source = this.contentOf(image, content);
        if (!source && !existsSync(target)) {
          throw new LodgeError('CONFLICT', `image ${name} has no version ${content} any more, which this guest was made from: delete the guest and launch it anew`);
        }
        const sizeBytes = source ? await makeBase(source, d, target) : await bytesOnHost(target);
        this.deps.store.recordImageFile({ image: name, file, role: 'base', content, sizeBytes });
        return target;
      }),
    );
  }

  /** The base of image `name` that `file` names, if it is in the image's directory under a name a base `as` has had. */
  private async whichBase(name: string, file: string, as: Derivation['as']): Promise<{ path: string; present: boolean } | undefined> {
    if (!isBaseFile(path.basename(file), as)) return undefined;
    // the same directory by another name counts (an image directory moved, its old name a link to it)
    const dir = await realpath(this.deps.files.imageDir(name)).catch(() => undefined);
    if (!dir || (await realpath(path.dirname(file)).catch(() => '')) !== dir) return undefined;
    const base = path.join(dir, path.basename(file));
    return { path: base, present: existsSync(base) };
  }

  /** A guest of image `name` is gone: the earlier versions that no guest is made from any more go, with their bases. */
  async released(name: string): Promise<void> {
    await this.contents.with(name, () => this.sweep(name));
  }

  /** Removes the files of the versions of an image that are neither its current one nor a guest's. Under `contents`. */
  private async sweep(name: string): Promise<void> {
    const { store, files } = this.deps;
    const image = store.image(name);
    if (!image) return;
    const used = new Set([image.content, ...store.imageContentsInUse(name)]);
    for (const f of store.imageFiles(name)) {
      if (used.has(f.content)) continue;
      await rm(path.join(files.imageDir(name), f.file), { recursive: true, force: true });
      store.deleteImageFile(name, f.file);
    }
  }

  /**
   * At start: undoes or removes what a crash left in the images' directories (a version half
   * put in place, a base half made), records the bases found there but not on record (made by
   * a lodged that recorded none, or stopped before it did: they count as the current
   * version's), and removes the versions and bases no guest needs any more. Returns what it
   * did, to log.
   */
  async restore(): Promise<string[]> {
    const { store, files } = this.deps;
    const done: string[] = [];
    for (const image of store.images()) {
      const dir = files.imageDir(image.name);
      if (!existsSync(dir)) continue;
      done.push(...(await files.recover(image.name, image.format, image.content)));
      const recorded = new Set(store.imageFiles(image.name).map((f) => f.file));
      for (const file of await readdir(dir)) {
        if (!isBaseFile(file) || recorded.has(file)) continue;
        store.recordImageFile({ image: image.name, file, role: 'base', content: image.content, sizeBytes: await bytesOnHost(path.join(dir, file)) });
      }
      await this.sweep(image.name);
    }
    return done;
  }

  /**
   * Makes an image in staging with `make` (given where its rootfs or file goes), then puts it in
   * place as a new version and records it. The version before stays, with its bases, for its guests.
   */
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
      const record = { name, ...meta, source, sizeBytes: await bytesOnHost(target), content: newContentId(), createdAt: new Date().toISOString() };
      await this.contents.with(name, async () => {
        const old = store.image(name);
        if (old && existsSync(files.imageDir(name))) {
          // the version before stays aside while guests made from it exist (the sweep below removes it otherwise)
          const oldBytes = await bytesOnHost(files.content(name, old.format)).catch(() => 0);
          await files.replace(name, target, old, (aside) =>
            store.transaction(() => {
              store.upsertImage(record);
              if (aside) store.recordImageFile({ image: name, file: path.basename(aside), role: 'version', content: old.content, sizeBytes: oldBytes });
            }),
          );
        } else {
          // a directory without its row is what a crash left
          await rm(files.imageDir(name), { recursive: true, force: true });
          await rename(staging, files.imageDir(name));
          store.upsertImage(record);
        }
        await this.sweep(name);
      });
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    this.deps.events.emit('lifecycle', name, 'image-created');
  }

  /** Whether the image is being rebuilt now: a guest launched from it would be made from the version on its way out. */
  beingRebuilt(name: string): boolean {
    return this.rebuilding.has(name);
  }

  /** Builds an image, or a new version of it: its guests keep the version they were made from. */
  build(req: ImagesBuildPost): Operation {
    return this.deps.operations.start('image.build', req.name, ({ progress }) =>
      this.lock.with(req.name, async () => {
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
      case 'debian/12-cloud':
        return this.install(name, 'built with debootstrap (bookworm, minbase, systemd, cloud-init)', { format: 'rootfs', ...debianImage }, progress, (rootfs) => buildDebian(rootfs, step, { cloudInit: true }));
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
        // an xz or zstd tarball is made plain first, beside the upload
        const plain = `${file}.tar`;
        try {
          const format = !query.format || query.format === 'auto' ? ((await sniffFile(file)) ?? 'tar') : query.format;
          const meta = { init: query.init ?? '/sbin/init', stopSignal: query.stopSignal ?? 'SIGTERM' };
          if (format === 'tar') {
            let limits = limitsFor(await this.freeBytes());
            const compression = await compressionOfFile(file);
            if (compression) {
              progress(5, `decompressing the tarball (${compression})`);
              await decompressTarball(file, compression, plain, plainTarballBytes(await this.freeBytes()));
              await rename(plain, file);
              // the plain tarball now takes its room: what is extracted must fit in what is left
              limits = limitsFor(await this.freeBytes());
            }
            progress(10, 'checking the tarball');
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
          await rm(plain, { force: true });
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

  /** Deletes an image no guest uses, and its bases with it. */
  async delete(name: string): Promise<void> {
    await this.lock.with(name, () =>
      this.contents.with(name, async () => {
        this.get(name);
        const users = this.deps.store.imageInUse(name);
        if (users.length > 0) throw new LodgeError('CONFLICT', `cannot delete image ${name}: guests use it (${users.join(', ')})`);
        await this.deps.files.remove(name);
        this.deps.store.deleteImage(name);
        this.deps.events.emit('lifecycle', name, 'image-deleted');
      }),
    );
  }
}
