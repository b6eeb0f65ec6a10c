/**
 * @module Paths inside an image's tree as the guest sees them. An image may hold absolute
 * symbolic links (they resolve inside the guest's root); when lodged, as root on the host,
 * writes into such a tree, it must resolve them the same way, never against the host's /.
 */
import { lstat, readlink } from 'node:fs/promises';
import path from 'node:path';

const maxLinks = 40;

/**
 * Where `inGuest` leads inside `root`, following the tree's symbolic links as the guest's
 * kernel would: absolute ones from `root`, and `..` never above it. Parts that do not exist
 * yet are taken as they are (the caller makes them).
 */
export async function resolveInRoot(root: string, inGuest: string): Promise<string> {
  let rest = inGuest.split('/').filter(Boolean);
  let at: string[] = [];
  let links = 0;
  while (rest.length > 0) {
    const part = rest.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      at = at.slice(0, -1);
      continue;
    }
    const here = path.join(root, ...at, part);
    const st = await lstat(here).catch(() => undefined);
    if (st?.isSymbolicLink()) {
      if (++links > maxLinks) throw new Error(`${inGuest} in ${root}: more than ${maxLinks} symbolic links on the way`);
      const target = await readlink(here);
      if (target.startsWith('/')) at = [];
      rest = [...target.split('/').filter(Boolean), ...rest];
      continue;
    }
    at = [...at, part];
  }
  return path.join(root, ...at);
}
