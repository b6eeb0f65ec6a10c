/**
 * @module Writing a tar archive entry by entry (ustar, with a pax header before an entry whose
 * name, link or numbers do not fit), for archives made from something other than a directory
 * on disk: node-tar's own writer reads files itself, so only its Header and Pax are used here.
 */
import { Header, Pax } from 'tar';

export interface TarEntry {
  /** Relative, '/'-separated (a directory's gets its trailing '/' here). */
  path: string;
  type: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  /** Permission bits, setuid, setgid and sticky included. */
  mode: number;
  uid: number;
  gid: number;
  /** A file's: its data follows the header, then tarPadding(size). */
  size?: number;
  mtime: Date;
  /** A symbolic link's target, or the path of the entry a hard link names. */
  linkpath?: string;
  devmaj?: number;
  devmin?: number;
}

const block = 512;

/** The header blocks of an entry. */
export function tarHeader(e: TarEntry): Buffer {
  const path = e.type === 'Directory' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
  const fields = {
    path,
    type: e.type,
    mode: e.mode & 0o7777,
    uid: e.uid,
    gid: e.gid,
    size: e.type === 'File' ? (e.size ?? 0) : 0,
    mtime: e.mtime,
    ...(e.linkpath !== undefined ? { linkpath: e.linkpath } : {}),
    ...(e.devmaj !== undefined ? { devmaj: e.devmaj, devmin: e.devmin ?? 0 } : {}),
  };
  const header = new Header(fields);
  const needPax = header.encode();
  const pax = needPax ? new Pax({ path, uid: e.uid, gid: e.gid, size: fields.size, mtime: e.mtime, ...(e.linkpath !== undefined ? { linkpath: e.linkpath } : {}) }).encode() : undefined;
  return pax ? Buffer.concat([pax, header.block!]) : header.block!;
}

/** The zeros that fill a file's data up to the next block. */
export const tarPadding = (size: number): Buffer => Buffer.alloc((block - (size % block)) % block);

/** The end of an archive: two zero blocks. */
export const tarEnd = (): Buffer => Buffer.alloc(2 * block);
