/**
 * @module A file tree's catalog: one entry per file, directory, link or special file, in
 * depth-first order with a directory before its children and children sorted by name
 * bytes. Serialized as JSON lines (a name holding a newline is escaped by JSON; a name
 * that is not UTF-8 is kept as base64), and stored itself as content-defined chunks so
 * that the catalogs of similar trees share chunks. Decoding checks every entry, since a
 * catalog read back may have been tampered with. An entry's extended attributes (`x`) came
 * later: a catalog without them reads as entries with none.
 */
import { LodgeError } from '../../api/errors.js';

export const entryTypes = ['file', 'dir', 'symlink', 'hardlink', 'chardev', 'blockdev', 'fifo', 'socket'] as const;
export type EntryType = (typeof entryTypes)[number];

/** An extended attribute: its name and value (see xattrs.ts for which a backup keeps). */
export type Xattr = [name: Buffer, value: Buffer];

/** The kernel's bounds on an attribute's name and value, and lodge-xattrs' on an entry's count of them. */
const xattrNameMax = 255;
const xattrValueMax = 65536;
const xattrsMax = 1024;

/** A piece of a file's data: a chunk id (null for an all-zero chunk, stored nowhere) and its length. */
export type DataRef = [id: string | null, length: number];

export interface CatalogEntry {
  /** Relative to the tree's root, '/'-separated; empty for the root itself. */
  path: Buffer;
  type: EntryType;
  /** Permission bits, setuid/setgid/sticky included. */
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  size: number;
  ino: bigint;
  /** Device number of a chardev or blockdev. */
  rdev?: bigint;
  /** A symlink's target, or a hardlink's first path in this catalog. */
  target?: Buffer;
  /**
   * A file's data: the concatenation of these chunks from `offset` on, `size` bytes. Small
   * files share chunks (their bytes are packed one after another), so offset may be > 0.
   */
  data?: DataRef[];
  offset?: number;
  /** Its extended attributes, by name (none on a hardlink: they are its first path's). */
  xattrs?: Xattr[];
}

type Bytes = string | { b64: string };

function encodeBytes(b: Buffer): Bytes {
  const s = b.toString('utf8');
  return Buffer.from(s, 'utf8').equals(b) ? s : { b64: b.toString('base64') };
}

function decodeBytes(v: unknown, what: string): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v && typeof v === 'object' && typeof (v as { b64?: unknown }).b64 === 'string') return Buffer.from((v as { b64: string }).b64, 'base64');
  throw new Error(`${what} is not a name`);
}

export const catalogHeader = '{"lodgeCatalog":1}\n';

export function encodeEntry(e: CatalogEntry): string {
  const o: Record<string, unknown> = {
    p: encodeBytes(e.path),
    t: e.type,
    m: e.mode,
    u: e.uid,
    g: e.gid,
    mt: e.mtimeNs.toString(),
    ct: e.ctimeNs.toString(),
    s: e.size,
    i: e.ino.toString(),
  };
  if (e.rdev !== undefined) o.rd = e.rdev.toString();
  if (e.target !== undefined) o.l = encodeBytes(e.target);
  if (e.data !== undefined) o.d = e.data;
  if (e.offset) o.o = e.offset;
  if (e.xattrs) o.x = e.xattrs.map(([name, value]) => [encodeBytes(name), value.toString('base64')]);
  return `${JSON.stringify(o)}\n`;
}

const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
const bigOf = (v: unknown, what: string) => {
  if (typeof v !== 'string' || !/^-?\d{1,30}$/.test(v)) throw new Error(`${what} is not an integer`);
  return BigInt(v);
};

/** The problem with a relative path from a catalog, if any: it must stay inside the tree. */
export function pathProblem(p: Buffer): string | undefined {
  if (p.length === 0) return undefined;
  if (p.includes(0)) return 'holds a NUL byte';
  if (p[0] === 0x2f) return 'is absolute';
  for (const part of p.toString('latin1').split('/')) {
    if (part === '' || part === '.' || part === '..') return `has a "${part}" component`;
  }
  return undefined;
}

const base64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeXattrs(v: unknown): Xattr[] {
  if (!Array.isArray(v) || v.length > xattrsMax) throw new Error(`x is not a list of at most ${xattrsMax} attributes`);
  return v.map((a: unknown) => {
    if (!Array.isArray(a) || a.length !== 2 || typeof a[1] !== 'string' || !base64.test(a[1])) throw new Error('x holds an attribute that is not a name and a value');
    const name = decodeBytes(a[0], 'an attribute name');
    const value = Buffer.from(a[1], 'base64');
    if (name.length === 0 || name.length > xattrNameMax || name.includes(0)) throw new Error(`attribute name ${JSON.stringify(name.toString('utf8'))} is empty, longer than ${xattrNameMax} bytes or holds a NUL`);
    if (value.length > xattrValueMax) throw new Error(`attribute ${name.toString('utf8')} holds more than ${xattrValueMax} bytes`);
    return [name, value];
  });
}

/** Parses and checks one catalog line; `where` names it in errors. */
export function decodeEntry(line: string, where: string): CatalogEntry {
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    const path = decodeBytes(o.p, 'p');
    const problem = pathProblem(path);
    if (problem) throw new Error(`path ${JSON.stringify(path.toString('utf8'))} ${problem}`);
    if (!entryTypes.includes(o.t as EntryType)) throw new Error(`type ${String(o.t)} is unknown`);
    for (const f of ['m', 'u', 'g', 's'] as const) if (!isCount(o[f])) throw new Error(`${f} is not a count`);
    const e: CatalogEntry = {
      path,
      type: o.t as EntryType,
      mode: (o.m as number) & 0o7777,
      uid: o.u as number,
      gid: o.g as number,
      mtimeNs: bigOf(o.mt, 'mt'),
      ctimeNs: bigOf(o.ct, 'ct'),
      size: o.s as number,
      ino: bigOf(o.i, 'i'),
    };
    if (o.rd !== undefined) e.rdev = bigOf(o.rd, 'rd');
    if (o.l !== undefined) e.target = decodeBytes(o.l, 'l');
    if (o.x !== undefined) e.xattrs = decodeXattrs(o.x);
    if (o.d !== undefined) {
      if (!Array.isArray(o.d)) throw new Error('d is not a list');
      for (const r of o.d as unknown[]) {
        if (!Array.isArray(r) || r.length !== 2 || !(r[0] === null || (typeof r[0] === 'string' && /^[0-9a-f]{64}$/.test(r[0]))) || !isCount(r[1])) throw new Error('d holds a bad chunk reference');
      }
      e.data = o.d as DataRef[];
      e.offset = o.o === undefined ? 0 : (o.o as number);
      if (!isCount(e.offset)) throw new Error('o is not a count');
      const held = e.data.reduce((n, r) => n + r[1], 0);
      if (held - e.offset < e.size) throw new Error(`its chunks hold ${held - e.offset} bytes for a size of ${e.size}`);
    }
    if (e.type === 'file' && e.size > 0 && !e.data) throw new Error('a file with data has no chunks');
    if ((e.type === 'symlink' || e.type === 'hardlink') && !e.target) throw new Error(`a ${e.type} has no target`);
    if (e.type === 'hardlink' && pathProblem(e.target!)) throw new Error('a hardlink target leaves the tree');
    if (path.length === 0 && e.type !== 'dir') throw new Error('the root is not a directory');
    return e;
  } catch (err) {
    throw new LodgeError('BAD_REQUEST', `${where} is damaged: ${(err as Error).message}`, { cause: err });
  }
}

/** Splits a stream of catalog bytes into checked entries. */
export async function* decodeCatalog(pieces: AsyncIterable<Buffer>, what: string): AsyncGenerator<CatalogEntry> {
  let rest = '';
  let line = 0;
  const decoder = new TextDecoder('utf-8', { fatal: false });
  for await (const piece of pieces) {
    const text = rest + decoder.decode(piece, { stream: true });
    const lines = text.split('\n');
    rest = lines.pop()!;
    for (const l of lines) {
      line++;
      if (line === 1) {
        if (`${l}\n` !== catalogHeader) throw new LodgeError('BAD_REQUEST', `${what} is not a Lodge catalog (bad header)`);
        continue;
      }
      yield decodeEntry(l, `${what} line ${line}`);
    }
  }
  if (rest + decoder.decode() !== '') throw new LodgeError('BAD_REQUEST', `${what} is damaged: it ends in the middle of an entry`);
  if (line === 0) throw new LodgeError('BAD_REQUEST', `${what} is empty`);
}
