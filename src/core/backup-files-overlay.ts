/**
 * @module A container's filesystem as a backup holds it: the overlay's upper directory (in
 * the backup's catalog) over its image's rootfs (on this host), merged as overlayfs merges
 * them. A path is the upper layer's when the upper has it, deleted when the upper has a
 * whiteout there (a 0:0 character device), the lower's otherwise; a directory of both shows
 * the entries of both. Owners of the upper layer are the host's, moved back into the
 * guest's ids. Read from the catalog and the rootfs as they are: nothing is restored to disk.
 *
 * A directory the guest removed and made again is marked opaque in the upper layer
 * (trusted.overlay.opaque, kept in the catalog): it hides the lower one. A backup made
 * before Lodge kept extended attributes has no such marks, so there the lower directory's
 * entries show too. The lower layer is the image's, root's: it is walked without
 * following a link, and files are opened O_NOFOLLOW.
 */
import type { BigIntStats } from 'node:fs';
import { constants } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import type { BackupFileEntry } from '../api/backups.js';
import { LodgeError } from '../api/errors.js';
import { formatMode } from '../api/files.js';
import { tarEnd, tarHeader, tarPadding, type TarEntry } from '../lib/tar.js';
import { ChunkCache, entryData, type BackupStore, type CatalogEntry } from '../storage/backup-store/store.js';

/** A backed-up tree of a container: where its upper layer is in the tree, its id map, and its lower layer (undefined: not on this host). */
export interface OverlaySource {
  store: BackupStore;
  group: string;
  id: string;
  tree: string;
  upper: string;
  idMap: { hostId: number; size: number };
  lower: string | undefined;
  /** Says which image version the lower layer is, in messages. */
  lowerName: string;
}

/** A path as its bytes read as latin1: one character per byte, so any name is a key. */
type Key = string;
const keyOf = (parts: string[]): Key => Buffer.from(parts.join('/'), 'utf8').toString('latin1');
const parentKey = (k: Key) => k.slice(0, Math.max(k.lastIndexOf('/'), 0));
const shown = (k: Key) => `/${Buffer.from(k, 'latin1').toString('utf8')}`;
const join = (a: Key, b: Key) => (a ? `${a}/${b}` : b);
const isUnder = (k: Key, dir: Key) => dir === '' || k === dir || k.startsWith(`${dir}/`);

/** What is at a path of the merged tree: the upper layer's entry, the lower layer's file, or a directory of both. */
export interface OverlayNode {
  key: Key;
  upper?: CatalogEntry;
  /** Its path on the host as bytes (a name in the image need not be UTF-8). */
  lower?: { abs: Buffer; st: BigIntStats };
}
type Node = OverlayNode;

const isWhiteout = (e: CatalogEntry) => e.type === 'chardev' && (e.rdev ?? 0n) === 0n;
/** An upper directory that hides the lower one, as overlayfs reads its mark ("y"). */
const isOpaque = (e: CatalogEntry) => e.xattrs?.some(([name, value]) => name.toString('latin1') === 'trusted.overlay.opaque' && value.toString('latin1') === 'y') ?? false;
const lowerType = (st: BigIntStats): BackupFileEntry['type'] =>
  st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : st.isCharacterDevice() ? 'chardev' : st.isBlockDevice() ? 'blockdev' : st.isFIFO() ? 'fifo' : 'socket';
const typeOf = (n: Node): CatalogEntry['type'] => (n.upper ? n.upper.type : lowerType(n.lower!.st));
const isDir = (n: Node) => typeOf(n) === 'dir';

/** A device number's major and minor (Linux's encoding). */
const devParts = (rdev: bigint) => ({ devmaj: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)), devmin: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)) });

export class OverlayView {
  private readonly src: OverlaySource;
  /** The upper layer's entries that matter here, by path in the guest. */
  private readonly upper = new Map<Key, CatalogEntry>();
  private readonly children = new Map<Key, Key[]>();

  private constructor(src: OverlaySource) {
    this.src = src;
  }

  /**
   * Reads the catalog, keeping the upper layer's entries at and above each of `paths`, and
   * under them (`depth` levels: 1 for a listing, all for a download); then the first names
   * of the hard links among them that were not kept.
   */
  static async open(src: OverlaySource, paths: string[][], depth: number): Promise<OverlayView> {
    const view = new OverlayView(src);
    const wanted = paths.map(keyOf);
    const levels = (k: Key) => (k === '' ? 0 : k.split('/').length);
    const keep = (k: Key) => wanted.some((w) => isUnder(w, k) || (isUnder(k, w) && levels(k) - levels(w) <= depth));
    await view.load(keep);
    const targets = new Set([...view.upper.values()].filter((e) => e.type === 'hardlink').map((e) => view.upperKey(e.target!)).filter((k): k is Key => k !== undefined && !view.upper.has(k)));
    if (targets.size > 0) await view.load((k) => targets.has(k));
    return view;
  }

  /** A catalog path's key in the guest, if it is in the upper layer. */
  private upperKey(p: Buffer): Key | undefined {
    const root = this.src.upper;
    const s = p.toString('latin1');
    if (s === root) return '';
    return s.startsWith(`${root}/`) ? s.slice(root.length + 1) : undefined;
  }

  private async load(keep: (k: Key) => boolean): Promise<void> {
    const { store, group, id, tree } = this.src;
    for await (const e of await store.catalog(group, id, tree)) {
      const k = this.upperKey(e.path);
      if (k === undefined || this.upper.has(k) || !keep(k)) continue;
      this.upper.set(k, e);
      if (k !== '') {
        const siblings = this.children.get(parentKey(k)) ?? [];
        siblings.push(k);
        this.children.set(parentKey(k), siblings);
      }
    }
  }

  private async lowerAt(abs: Buffer): Promise<Node['lower']> {
    const st = await lstat(abs, { bigint: true }).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined;
      throw e;
    });
    return st && { abs, st };
  }

  /** What is at a path, or NOT_FOUND saying why nothing is. */
  async resolve(parts: string[]): Promise<Node> {
    const asked = keyOf(parts);
    const missing = (key: Key, why: (it: string) => string) => new LodgeError('NOT_FOUND', `${shown(asked)} is not in backup ${this.src.group}/${this.src.id}: ${why(key === asked ? 'it' : shown(key))}`);
    const root: Node = { key: '' };
    const up = this.upper.get('');
    if (up) root.upper = up;
    const lower = this.src.lower === undefined ? undefined : await this.lowerAt(Buffer.from(this.src.lower));
    if (lower && (!up || up.type === 'dir')) root.lower = lower;
    if (!root.upper && !root.lower) throw missing('', () => 'the backup holds no upper layer');
    let node = root;
    for (const part of parts) {
      if (!isDir(node)) {
        const why = await this.notADirectory(node);
        throw missing(node.key, (it) => `${it} is ${why}`);
      }
      const key = join(node.key, Buffer.from(part, 'utf8').toString('latin1'));
      const next = await this.child(node, key.slice(key.lastIndexOf('/') + 1));
      if (!next) {
        const u = this.upper.get(key);
        if (u && isWhiteout(u)) throw missing(key, (it) => `the guest had deleted ${it} when the backup was made`);
        throw missing(key, (it) => (this.src.lower === undefined ? `${it} is not in what the guest changed, and ${this.src.lowerName}, which holds the rest of its files, is not on this host` : `there is no ${it === 'it' ? 'such file' : it}`));
      }
      node = next;
    }
    return node;
  }

  /** What a node is that is no directory: "a file", "a symbolic link (to X): ask for the path it leads to". */
  private async notADirectory(n: Node): Promise<string> {
    const type = typeOf(n);
    if (type !== 'symlink') return `a ${type}, not a directory`;
    const target = n.upper ? n.upper.target!.toString('utf8') : await readlink(n.lower!.abs);
    return `a symbolic link (to ${target}): ask for the path it leads to`;
  }

  /** The entry `name` of directory `dir`, merged; undefined when there is none (or a whiteout). */
  private async child(dir: Node, name: Key): Promise<Node | undefined> {
    const key = join(dir.key, name);
    const u = this.upper.get(key);
    if (u && isWhiteout(u)) return undefined;
    const l = dir.lower && (!dir.upper || dir.upper.type === 'dir') ? await this.lowerAt(Buffer.concat([dir.lower.abs, Buffer.from('/'), Buffer.from(name, 'latin1')])) : undefined;
    if (!u && !l) return undefined;
    const node: Node = { key };
    if (u) node.upper = u;
    // a lower directory shows through an upper one not marked opaque; a lower file is hidden by what the upper has
    if (l && (!u || (u.type === 'dir' && !isOpaque(u) && l.st.isDirectory()))) node.lower = l;
    return node;
  }

  /** The entries of a directory, by name bytes. */
  private async entries(dir: Node): Promise<Node[]> {
    const names = new Set((this.children.get(dir.key) ?? []).map((k) => k.slice(k.lastIndexOf('/') + 1)));
    if (dir.lower && dir.lower.st.isDirectory()) for (const n of await readdir(dir.lower.abs, { encoding: 'buffer' })) names.add(n.toString('latin1'));
    const out: Node[] = [];
    for (const name of [...names].sort((a, b) => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1')))) {
      const n = await this.child(dir, name);
      if (n) out.push(n);
    }
    return out;
  }

  private guestId(id: number): number {
    const { hostId, size } = this.src.idMap;
    if (hostId === 0) return id;
    // an id outside the map is no one in the guest, as the kernel shows it there
    return id >= hostId && id < hostId + size ? id - hostId : 65534;
  }

  /** A node's metadata as the guest saw it (a hard link's is its first name's). */
  private async meta(n: Node): Promise<{ type: BackupFileEntry['type']; mode: number; uid: number; gid: number; size: number; mtime: Date; target?: string; rdev?: bigint }> {
    if (n.upper) {
      const e = n.upper.type === 'hardlink' ? (this.upper.get(this.upperKey(n.upper.target!) ?? '') ?? n.upper) : n.upper;
      return {
        type: e.type === 'hardlink' ? 'file' : e.type,
        mode: e.mode,
        uid: this.guestId(e.uid),
        gid: this.guestId(e.gid),
        size: e.size,
        mtime: new Date(Number(e.mtimeNs / 1_000_000n)),
        ...(e.target && e.type === 'symlink' ? { target: e.target.toString('utf8') } : {}),
        ...(e.rdev !== undefined ? { rdev: e.rdev } : {}),
      };
    }
    const st = n.lower!.st;
    return {
      type: lowerType(st),
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: st.isFile() ? Number(st.size) : 0,
      mtime: new Date(Number(st.mtimeMs)),
      ...(st.isSymbolicLink() ? { target: await readlink(n.lower!.abs) } : {}),
      rdev: st.rdev,
    };
  }

  /** A directory's entries, or a file's own entry. */
  async list(parts: string[]): Promise<BackupFileEntry[]> {
    const node = await this.resolve(parts);
    const nodes = isDir(node) ? await this.entries(node) : [node];
    const out: BackupFileEntry[] = [];
    for (const n of nodes) {
      const m = await this.meta(n);
      const name = Buffer.from(n.key.slice(n.key.lastIndexOf('/') + 1), 'latin1').toString('utf8');
      out.push({ name: n.key === '' ? '/' : name, type: m.type, mode: formatMode(m.mode), uid: m.uid, gid: m.gid, sizeBytes: m.size, modifiedAt: m.mtime.toISOString(), ...(m.target !== undefined ? { target: m.target } : {}) });
    }
    return out;
  }

  /** A tar of the nodes at `paths` (resolved already: resolve refuses what is not there) and all they hold. */
  async *tar(nodes: Node[], signal?: AbortSignal): AsyncGenerator<Buffer> {
    const cache = new ChunkCache(this.src.store.chunks);
    /** Where each file was put in this tar, by its first name in the upper layer or its inode below: its other names link to it. */
    const written = new Map<string, string>();
    const self = this;
    async function* emit(n: Node): AsyncGenerator<Buffer> {
      signal?.throwIfAborted();
      const m = await self.meta(n);
      const at = n.key === '' ? '.' : Buffer.from(n.key, 'latin1').toString('utf8');
      const base = { path: at, mode: m.mode, uid: m.uid, gid: m.gid, mtime: m.mtime };
      const linkKey = n.upper ? (n.upper.type === 'hardlink' ? `u:${self.upperKey(n.upper.target!)}` : `u:${n.key}`) : n.lower!.st.nlink > 1n ? `l:${n.lower!.st.dev}:${n.lower!.st.ino}` : undefined;
      switch (m.type) {
        case 'dir':
          yield tarHeader({ ...base, type: 'Directory' });
          for (const c of await self.entries(n)) yield* emit(c);
          return;
        case 'symlink':
          yield tarHeader({ ...base, type: 'SymbolicLink', linkpath: m.target! });
          return;
        case 'chardev':
        case 'blockdev':
        case 'fifo':
          yield tarHeader({ ...base, type: m.type === 'chardev' ? 'CharacterDevice' : m.type === 'blockdev' ? 'BlockDevice' : 'FIFO', ...devParts(m.rdev ?? 0n) } as TarEntry);
          return;
        case 'file': {
          const first = linkKey && written.get(linkKey);
          if (first) return void (yield tarHeader({ ...base, type: 'Link', linkpath: first }));
          if (linkKey) written.set(linkKey, at);
          yield tarHeader({ ...base, type: 'File', size: m.size });
          yield* n.upper ? self.upperData(cache, n.upper, signal) : lowerData(n.lower!.abs, m.size, signal);
          yield tarPadding(m.size);
          return;
        }
        default:
          // a socket is made by the program that listens on it
          return;
      }
    }
    for (const n of nodes) yield* emit(n);
    yield tarEnd();
  }

  private async *upperData(cache: ChunkCache, e: CatalogEntry, signal?: AbortSignal): AsyncGenerator<Buffer> {
    const file = e.type === 'hardlink' ? this.upper.get(this.upperKey(e.target!) ?? '') : e;
    if (!file) throw new LodgeError('BAD_REQUEST', `${shown(this.upperKey(e.path) ?? '')} in backup ${this.src.group}/${this.src.id} is a link to a file its catalog does not have`);
    for await (const piece of entryData(cache, file, signal)) yield* typeof piece === 'number' ? zeros(piece) : [piece];
  }
}

const zeroBlock = Buffer.alloc(1 << 20);
function* zeros(n: number): Generator<Buffer> {
  for (let left = n; left > 0; left -= zeroBlock.length) yield zeroBlock.subarray(0, Math.min(left, zeroBlock.length));
}

/** `size` bytes of a file of the image's rootfs (zeros past its end, should it be shorter now). */
async function* lowerData(abs: Buffer, size: number, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const fh = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    let done = 0;
    while (done < size) {
      signal?.throwIfAborted();
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, size - done));
      const { bytesRead } = await fh.read(buf, 0, buf.length, done);
      if (bytesRead === 0) break;
      yield buf.subarray(0, bytesRead);
      done += bytesRead;
    }
    yield* zeros(size - done);
  } finally {
    await fh.close();
  }
}
