/**
 * @module Importing a rootfs tarball: every entry is checked before anything is
 * written, so a tarball with absolute paths, ".." or links that climb out of the root
 * is refused whole and leaves nothing behind.
 */
import path from 'node:path';
import * as tar from 'tar';
import { LodgeError } from '../api/errors.js';

/** Why an entry would reach outside the root when extracted, or undefined when it is safe. */
export function unsafeEntry(entry: { path: string; type: string; linkpath?: string }): string | undefined {
  const name = entry.path;
  if (path.isAbsolute(name)) return `absolute path ${name}`;
  if (name.split('/').includes('..')) return `path with ".." ${name}`;
  if (entry.type === 'Link' && entry.linkpath !== undefined) {
    const target = path.posix.normalize(entry.linkpath);
    if (path.isAbsolute(target) || target === '..' || target.startsWith('../')) return `hard link ${name} to ${entry.linkpath} outside the root`;
  }
  if (entry.type === 'SymbolicLink' && entry.linkpath !== undefined && !path.isAbsolute(entry.linkpath)) {
    // an absolute symlink resolves inside the guest's root; a relative one must not climb above it
    const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(name), entry.linkpath));
    if (resolved === '..' || resolved.startsWith('../')) return `symbolic link ${name} to ${entry.linkpath} outside the root`;
  }
  return undefined;
}

export const unreadableTarball = 'the tarball cannot be read';

export async function checkTarball(file: string): Promise<number> {
  const problems: string[] = [];
  let entries = 0;
  try {
    await tar.t({
      file,
      strict: true,
      onReadEntry: (e) => {
        entries++;
        const why = unsafeEntry({ path: e.path, type: e.type, linkpath: e.linkpath });
        if (why) problems.push(why);
      },
    });
  } catch (e) {
    throw new LodgeError('BAD_REQUEST', `${unreadableTarball}: ${(e as Error).message}`);
  }
  if (problems.length > 0) {
    const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : '';
    throw new LodgeError('BAD_REQUEST', `the tarball reaches outside its root: ${problems.slice(0, 3).join(', ')}${more}`);
  }
  if (entries === 0) throw new LodgeError('BAD_REQUEST', 'the tarball is empty');
  return entries;
}

/** Device nodes and FIFOs are left out: a guest gets its /dev from its runtime or its kernel. */
const skipped = new Set(['CharacterDevice', 'BlockDevice', 'FIFO']);

/**
 * Extracts a tarball that checkTarball has passed. Absolute symbolic links are kept as they
 * are (they resolve inside the guest's root, as /etc/mtab -> /proc/self/mounts does);
 * node-tar would otherwise rewrite them, and refuse the archive in strict mode.
 */
export async function extractTarball(file: string, rootfs: string): Promise<void> {
  await tar.x({ file, cwd: rootfs, preserveOwner: true, strict: true, preservePaths: true, filter: (_path, entry) => !skipped.has((entry as tar.ReadEntry).type) });
}
