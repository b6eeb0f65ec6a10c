/**
 * @module How a name filter matches (lodge list web*, GET /1.0/guests?name=web): a pattern
 * with * or ? is a glob over the whole name, any other is a part of the name: what it means is
 * part of the contract, beside the query it reads.
 */

/** Whether `pattern` has a wildcard, and so is a glob rather than a part of a name. */
export const isGlob = (pattern: string) => /[*?]/.test(pattern);

export function nameMatches(pattern: string, name: string): boolean {
  if (!isGlob(pattern)) return name.includes(pattern);
  // every other character is itself: escape what a regular expression would read otherwise
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's').test(name);
}
