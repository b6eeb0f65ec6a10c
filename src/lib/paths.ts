/**
 * @module Paths compared as text: whether one is a directory's own or below it.
 */

/** `p` is `dir` itself or below it (both absolute and resolved). */
export const isWithin = (p: string, dir: string): boolean => p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
