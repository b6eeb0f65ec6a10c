/**
 * @module Importing a rootfs tarball, in two defences. First every entry is checked
 * before anything is written (TarChecker): a name that is absolute, climbs with "..",
 * carries a NUL or is longer than Linux allows, an entry under a symbolic link that an
 * earlier entry made (chains too), a hard link that leaves the root or passes through such
 * a link, an entry or a total over the size caps: the tarball is refused whole, naming the
 * entry. Then the tarball is unpacked by lodge-unpack (shim/lodge-unpack.c), which chroots
 * into the new rootfs before busybox tar reads a byte, so a gap in the checks still cannot
 * write outside the image.
 */
import { createReadStream } from 'node:fs';
import { chmod, chown, open } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { LodgeError } from '../api/errors.js';
import { run } from '../lib/exec.js';

/** The longest name Linux takes (PATH_MAX less its NUL) and the longest component (NAME_MAX), in bytes. */
const pathMax = 4095;
const nameMax = 255;

export interface TarLimits {
  /** The most entries a tarball may have (empty files fill a disk's inodes, not its bytes). */
  entries: number;
  /** The largest one entry may be. */
  entryBytes: number;
  /** The largest all entries together may be. */
  totalBytes: number;
}

/**
 * A tarball may have at most 2 million entries (a full Debian has about 100 thousand); one
 * entry may be at most 16 GiB; all of them at most 256 GiB, and never more than 90% of the
 * free space where they go.
 */
const maxEntries = 2_000_000;
const maxEntryBytes = 16 * 2 ** 30;
const maxTotalBytes = 256 * 2 ** 30;
export const limitsFor = (freeBytes: number): TarLimits => ({ entries: maxEntries, entryBytes: maxEntryBytes, totalBytes: Math.min(maxTotalBytes, Math.floor(freeBytes * 0.9)) });

/** A byte count as a person reads it. */
const sizeText = (n: number) => (n >= 2 ** 30 ? `${+(n / 2 ** 30).toFixed(2)} GiB` : n >= 2 ** 20 ? `${+(n / 2 ** 20).toFixed(1)} MiB` : `${n} bytes`);

export interface TarEntry {
  path: string;
  type: string;
  linkpath?: string;
  size?: number;
}

/** Kept as files, directories and links; device nodes and FIFOs are left out (a guest gets its /dev from its runtime or kernel). */
const kept = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);
const leftOut = new Set(['CharacterDevice', 'BlockDevice', 'FIFO']);

/** A problem: whether it is an escape (the entry reaches outside the root) or another refusal. */
export interface Refusal {
  escape: boolean;
  why: string;
}

/** A name's components without "." and empty ones; undefined when it is not a relative name inside the root. */
function components(name: string): string[] {
  return name.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * Pure: checks the entries of one tarball in order, remembering the symbolic links that
 * earlier entries made, the names they made and the bytes they hold.
 */
export class TarChecker {
  private readonly limits: TarLimits;
  private readonly symlinks = new Set<string>();
  private readonly made = new Set<string>();
  totalBytes = 0;
  entries = 0;

  constructor(limits: TarLimits = limitsFor(Infinity)) {
    this.limits = limits;
  }

  /** The first symbolic link (made by an earlier entry) that `parts` passes through, if any. */
  private linkOnTheWay(parts: string[]): string | undefined {
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (this.symlinks.has(prefix)) return prefix;
    }
    return undefined;
  }

  /** Why a name cannot be used, if it cannot. */
  private badName(what: string, name: string): Refusal | undefined {
    const shown = JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}...` : name);
    if (name.includes('\0')) return { escape: false, why: `${what} ${shown} contains a NUL byte` };
    if (Buffer.byteLength(name) > pathMax) return { escape: false, why: `${what} ${shown} is longer than ${pathMax} bytes` };
    if (name.split('/').some((c) => Buffer.byteLength(c) > nameMax)) return { escape: false, why: `${what} ${shown} has a component longer than ${nameMax} bytes` };
    if (name.startsWith('/')) return { escape: true, why: `absolute path ${name}` };
    if (name.split('/').includes('..')) return { escape: true, why: `path with ".." ${name}` };
    return undefined;
  }

  /** Checks the next entry: a refusal, or undefined when it may be extracted (or left out). */
  check(entry: TarEntry): Refusal | undefined {
    this.entries++;
    const name = entry.path;
    if (this.entries > this.limits.entries) return { escape: false, why: `entry ${name} is one more than the ${this.limits.entries} entries a tarball may have` };
    const bad = this.badName('name', name);
    if (bad) return bad;
    const parts = components(name);
    const key = parts.join('/');
    const through = this.linkOnTheWay(parts);
    if (through !== undefined) return { escape: true, why: `entry ${name} is under the symbolic link ${through} that an earlier entry made` };
    if (!kept.has(entry.type) && !leftOut.has(entry.type)) return { escape: false, why: `entry ${name} is of a type Lodge does not import (${entry.type})` };
    if (this.symlinks.has(key) && entry.type !== 'SymbolicLink') return { escape: true, why: `entry ${name} would replace the symbolic link an earlier entry made there` };
    const size = entry.size ?? 0;
    if (size > this.limits.entryBytes) return { escape: false, why: `entry ${name} is ${size} bytes, over the ${sizeText(this.limits.entryBytes)} cap of one entry` };
    this.totalBytes += size;
    if (this.totalBytes > this.limits.totalBytes) {
      return { escape: false, why: `the entries up to ${name} hold ${this.totalBytes} bytes, over the ${sizeText(this.limits.totalBytes)} cap of a whole tarball (the smaller of ${sizeText(maxTotalBytes)} and 90% of the free space)` };
    }
    if (entry.type === 'SymbolicLink') {
      const link = entry.linkpath ?? '';
      if (link.includes('\0') || Buffer.byteLength(link) > pathMax) return { escape: false, why: `symbolic link ${name} has a target with a NUL byte or longer than ${pathMax} bytes` };
      if (!path.posix.isAbsolute(link)) {
        // an absolute symlink resolves inside the guest's root; a relative one must not climb above it
        const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(key), link));
        if (resolved === '..' || resolved.startsWith('../')) return { escape: true, why: `symbolic link ${name} to ${link} outside the root` };
      }
      this.symlinks.add(key);
    }
    if (entry.type === 'Link') {
      const target = entry.linkpath ?? '';
      const badTarget = this.badName(`hard link ${name} to`, target);
      if (badTarget) return { escape: true, why: badTarget.escape ? `hard link ${name} to ${target} outside the root` : badTarget.why };
      const targetParts = components(target);
      const targetKey = targetParts.join('/');
      const via = this.linkOnTheWay(targetParts);
      if (via !== undefined) return { escape: true, why: `hard link ${name} to ${target} passes through the symbolic link ${via}` };
      if (!this.made.has(targetKey)) return { escape: true, why: `hard link ${name} to ${target}, which no earlier entry made` };
      // a hard link to a symbolic link is one more symbolic link
      if (this.symlinks.has(targetKey)) this.symlinks.add(key);
    }
    if (key !== '') this.made.add(key);
    return undefined;
  }
}

export const unreadableTarball = 'the tarball cannot be read';

/**
 * Pure: the name with a NUL byte that a pax header (its path or linkpath record) or a GNU
 * long name holds, if any. node-tar cuts such a name at the NUL, as busybox's C strings
 * would; it is refused rather than guessed at.
 */
export function nulInLongName(meta: string): string | undefined {
  for (const m of meta.matchAll(/(?:^|\n)\d+ (?:path|linkpath)=([^\n]*)/g)) if (m[1]!.includes('\0')) return m[1];
  const gnu = meta.replace(/\0+$/, '');
  return !gnu.includes('=') && gnu.includes('\0') ? gnu : undefined;
}

/** Whether a file starts as a gzip stream does. */
export async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(2);
    await fh.read(head, 0, 2, 0);
    return head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/**
 * Reads the whole tarball (gzip or not) through TarChecker and stops at the first refusal.
 * Returns the count of entries and the bytes they hold.
 */
export async function checkTarball(file: string, limits: TarLimits = limitsFor(Infinity)): Promise<{ entries: number; bytes: number }> {
  const checker = new TarChecker(limits);
  let refusal: Refusal | undefined;
  const input = createReadStream(file);
  let nulName: string | undefined;
  const parser = new tar.Parser({
    strict: true,
    onReadEntry: (e) => {
      e.resume();
      if (refusal) return;
      refusal = checker.check({ path: nulName ?? e.path, type: e.type, linkpath: e.linkpath, size: e.size });
      nulName = undefined;
      // stop reading at once: what follows a refused header may be a bomb
      if (refusal) input.destroy();
    },
  });
  parser.on('meta', (meta: string) => (nulName = nulInLongName(meta) ?? nulName));
  try {
    await pipeline(input, parser);
  } catch (e) {
    if (!refusal) throw new LodgeError('BAD_REQUEST', `${unreadableTarball}: ${(e as Error).message}`);
  }
  if (refusal) throw new LodgeError('BAD_REQUEST', refusal.escape ? `the tarball reaches outside its root: ${refusal.why}` : `the tarball is refused: ${refusal.why}`);
  if (checker.entries === 0) throw new LodgeError('BAD_REQUEST', 'the tarball is empty');
  return { entries: checker.entries, bytes: checker.totalBytes };
}

export interface Unpacker {
  /** lodge-unpack (shim/lodge-unpack.c). */
  helper: string;
  /** A static busybox: it runs inside the new rootfs, where no host library is. */
  busybox: string;
}

/**
 * Extracts a tarball into `rootfs` (an empty directory) in a confined process: lodge-unpack
 * chroots into rootfs, drops every capability but those that set owners and modes, and
 * runs busybox tar there. Owners, modes (setuid too), symbolic and hard links are kept as
 * the tarball has them; absolute symbolic links stay as they are (they resolve inside the
 * guest). Device nodes cannot be made (no CAP_MKNOD); the FIFOs it makes are removed after.
 */
export async function extractTarball(file: string, rootfs: string, unpacker: Unpacker, limits: TarLimits = limitsFor(Infinity)): Promise<void> {
  const gzip = (await isGzip(file)) ? ['--gzip'] : [];
  try {
    await run([unpacker.helper, '--max-file-bytes', String(limits.entryBytes), ...gzip, file, rootfs, unpacker.busybox], { timeoutMs: 60 * 60_000 });
  } catch (e) {
    throw new LodgeError('BAD_REQUEST', `the tarball could not be unpacked: ${(e as Error).message.split('\n').slice(-3).join(' ')}`, { cause: e });
  }
  // find does not follow symbolic links, and nothing else writes here meanwhile
  await run(['find', rootfs, '-xdev', '(', '-type', 'p', '-o', '-type', 'c', '-o', '-type', 'b', '-o', '-type', 's', ')', '-delete']);
  // the tarball's "./" entry set the top directory's owner and mode: a guest's / is root's and 0755, whatever it said
  await chown(rootfs, 0, 0);
  await chmod(rootfs, 0o755);
}
