/**
 * @module Files of a backup, as the guest saw them at its point in time, without restoring
 * the guest (Proxmox's file restore): a directory listed, or files and directories sent as
 * a tar. A container's are read from the backup's catalog over its image's rootfs
 * (backup-files-overlay.ts); a pv or vm guest's from its disk made whole in a scratch
 * directory and read by debugfs, unprivileged (backup-files-disk.ts, host/ext-reader.ts).
 * Which of the two a kind's root is, its driver declares (rootFiles).
 */
import { chmod, chown, lstat, mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { BackupFileEntry, BackupFileList, BackupGuest } from '../api/backups.js';
import { LodgeError } from '../api/errors.js';
import { formatMode } from '../api/files.js';
import type { RootFiles } from '../drivers/driver.js';
import { debugfsPathProblem, dumpExt, listExt, makeReaderDirs, readerIds, tarAsReader, type ExtImage } from '../host/ext-reader.js';
import type { BackupStore } from '../storage/backup-store/store.js';
import { openDisk, type BackupImages, type DiskSource } from './backup-files-disk.js';
import { OverlayView, type OverlaySource } from './backup-files-overlay.js';

export type { BackupImages } from './backup-files-disk.js';

/** The most paths one download takes. */
export const maxPaths = 256;

/**
 * A path of the guest's as its components: absolute, without '.' or '..' (a repeated or
 * trailing slash is no component). BAD_REQUEST, naming the path, otherwise.
 */
export function guestPathParts(p: string): string[] {
  if (!p.startsWith('/')) throw new LodgeError('BAD_REQUEST', `path "${p}" is not absolute: give it as the guest saw it, from /`);
  if (p.includes('\0')) throw new LodgeError('BAD_REQUEST', `path ${JSON.stringify(p)} holds a NUL byte`);
  const parts = p.split('/').filter((c) => c !== '');
  const bad = parts.find((c) => c === '.' || c === '..');
  if (bad) throw new LodgeError('BAD_REQUEST', `path "${p}" has a "${bad}" component: give the path itself`);
  return parts;
}

/** The paths of a download, each once, none inside another (a directory brings what it holds). */
export function downloadPaths(paths: string[]): string[][] {
  if (paths.length === 0) throw new LodgeError('BAD_REQUEST', 'path: name at least one file or directory');
  if (paths.length > maxPaths) throw new LodgeError('BAD_REQUEST', `path: at most ${maxPaths} paths at once (a directory brings all it holds)`);
  const parsed = paths.map(guestPathParts);
  const inside = (p: string[], o: string[]) => o.length <= p.length && o.every((c, i) => p[i] === c);
  // in the order asked, less those inside another (or the same as an earlier one)
  return parsed.filter((p, i) => !parsed.some((o, j) => j !== i && inside(p, o) && (o.length < p.length || j < i)));
}

const asPath = (parts: string[]) => `/${parts.join('/')}`;

export interface BackupFilesDeps {
  images: BackupImages;
  /** lodge-userns (shim/lodge-userns.c), which the readers of guests' disks run under. */
  readerHelper: string;
}

/** A backup whose files are asked for, and what its kind's root volume holds. */
export interface FilesSource {
  store: BackupStore;
  group: string;
  id: string;
  /** The tree of its root volume in the backup. */
  tree: string;
  settings: BackupGuest;
  /** What its root volume held (its kind's), or the whole disk as an index of the backup. */
  rootFiles: RootFiles | { as: 'whole-disk'; index: string } | undefined;
}

export interface FilesDownload {
  tar: Readable;
  /** What this host could not read of the backup, and why. */
  incomplete?: string;
}

export class BackupFiles {
  private readonly deps: BackupFilesDeps;

  constructor(deps: BackupFilesDeps) {
    this.deps = deps;
  }

  private layout(src: FilesSource): NonNullable<FilesSource['rootFiles']> {
    if (!src.rootFiles) throw new LodgeError('UNSUPPORTED', `the files of backup ${src.group}/${src.id} cannot be read: this host cannot read the root of a ${src.settings.kind} guest file by file`);
    return src.rootFiles;
  }

  /** A container's backup over its image's rootfs, and what is missing when this host lacks that version. */
  private overlay(src: FilesSource, layout: Extract<RootFiles, { as: 'overlay' }>): { source: OverlaySource; incomplete?: string } {
    const { image, imageContent, options } = src.settings;
    const version = this.deps.images.versionOf(image, imageContent);
    const lower = version?.format === 'rootfs' ? version.path : undefined;
    const lowerName = `the version of image ${image} it was made from (${imageContent})`;
    return {
      source: { store: src.store, group: src.group, id: src.id, tree: src.tree, upper: layout.upper, idMap: options.privileged ? { hostId: 0, size: 0 } : layout.idMap, lower, lowerName },
      ...(lower ? {} : { incomplete: `${lowerName} is not on this host: only the files the guest had changed are here` }),
    };
  }

  /** A scratch directory of lodged's that the readers may pass through (and not list). */
  private async scratchDir(scratch: string): Promise<string> {
    const dir = await mkdtemp(path.join(scratch, 'backup-files-'));
    await chmod(dir, 0o711);
    return dir;
  }

  private disk(src: FilesSource, layout: Exclude<FilesSource['rootFiles'], { as: 'overlay' } | undefined>): DiskSource {
    const backup = { store: src.store, group: src.group, id: src.id, settings: src.settings };
    return layout.as === 'whole-disk' ? { ...backup, index: layout.index } : { ...backup, tree: src.tree, file: layout.file, format: layout.format };
  }

  private static refuseForDebugfs(paths: string[]): void {
    for (const p of paths) {
      const problem = debugfsPathProblem(p);
      if (problem) throw new LodgeError('BAD_REQUEST', `path ${JSON.stringify(p)} ${problem}`);
    }
  }

  /** A directory of the backup (or a file: itself). */
  async list(src: FilesSource, dir: string, scratch: string): Promise<BackupFileList> {
    const parts = guestPathParts(dir);
    const layout = this.layout(src);
    if (layout.as === 'overlay') {
      const { source, incomplete } = this.overlay(src, layout);
      const view = await OverlayView.open(source, [parts], 1);
      return { path: asPath(parts), entries: await view.list(parts), ...(incomplete ? { incomplete } : {}) };
    }
    BackupFiles.refuseForDebugfs([asPath(parts)]);
    const work = await this.scratchDir(scratch);
    try {
      const image = await openDisk(this.disk(src, layout), { images: this.deps.images, helper: this.deps.readerHelper }, work, AbortSignal.timeout(3_600_000));
      const entries = await listExt(this.deps.readerHelper, image, asPath(parts));
      if (!entries) throw new LodgeError('NOT_FOUND', `${asPath(parts)} is not in backup ${src.group}/${src.id}`);
      const list: BackupFileEntry[] = entries.map((e) => ({ name: e.name, type: e.type, mode: formatMode(e.mode), uid: e.uid, gid: e.gid, sizeBytes: e.size }));
      return { path: asPath(parts), entries: list.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name))) };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * Files and directories of the backup as a tar (paths relative to the guest's /, owners as
   * the guest's ids). Every path is looked up before the tar starts: one not there is
   * NOT_FOUND, naming it.
   */
  async download(src: FilesSource, paths: string[], scratch: string, signal: AbortSignal): Promise<FilesDownload> {
    const wanted = downloadPaths(paths);
    const layout = this.layout(src);
    if (layout.as === 'overlay') {
      const { source, incomplete } = this.overlay(src, layout);
      const view = await OverlayView.open(source, wanted, Infinity);
      const nodes = [];
      for (const p of wanted) nodes.push(await view.resolve(p));
      return { tar: Readable.from(view.tar(nodes, signal), { objectMode: false }), ...(incomplete ? { incomplete } : {}) };
    }
    const asked = wanted.map(asPath);
    BackupFiles.refuseForDebugfs(asked);
    const work = await this.scratchDir(scratch);
    try {
      const image = await openDisk(this.disk(src, layout), { images: this.deps.images, helper: this.deps.readerHelper }, work, signal);
      const tar = await this.dumped(src, image, asked, path.join(work, 'out'), signal);
      tar.once('close', () => void rm(work, { recursive: true, force: true }));
      return { tar };
    } catch (e) {
      await rm(work, { recursive: true, force: true });
      throw e;
    }
  }

  /** The asked paths copied out of the disk into `out` as the readers, then packed by them. */
  private async dumped(src: FilesSource, image: ExtImage, asked: string[], out: string, signal: AbortSignal): Promise<Readable> {
    const helper = this.deps.readerHelper;
    await mkdir(out, { mode: 0o700 });
    await chown(out, readerIds.hostId, readerIds.hostId);
    const parents = asked.filter((p) => p !== '/').map((p) => `${out}${p.slice(0, p.lastIndexOf('/'))}`);
    if (parents.length) await makeReaderDirs(helper, parents);
    const said = await dumpExt(helper, image, asked, out);
    // what debugfs copied is judged by what is there (its messages are not an interface); no reader runs any more
    for (const p of asked) {
      if (p === '/' || (await lstat(`${out}${p}`).catch(() => undefined))) continue;
      const why = said.find((l) => l.startsWith(`${p}:`))?.slice(p.length + 1).trim();
      throw new LodgeError('NOT_FOUND', `${p} is not in backup ${src.group}/${src.id}${why ? ` (debugfs: ${why})` : ''}`);
    }
    return tarAsReader(helper, out, asked.map((p) => (p === '/' ? '.' : p.slice(1))), signal);
  }
}
