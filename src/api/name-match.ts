/**
 * @module How a name filter matches (lodge list web*, GET /1.0/guests?name=web): a pattern
 * with * or ? is a glob over the whole name, any other is a part of the name: what it means is
 * part of the contract, beside the query it reads.
 */

/** Whether `pattern` has a wildcard, and so is a glob rather than a part of a name. */
export const isGlob = (pattern: string) => /[*?]/.test(pattern);

export function nameMatches(pattern: string, name: string): boolean {
  if (!isGlob(pattern)) return name.includes(pattern);
  return globMatches(pattern, name);
}

/**
 * A whole-name glob match in time linear in pattern times name, never exponential (a RegExp
 * of `.*` runs backtracks: `*a*a*a...*b` over a long name hung lodged): on a mismatch, go back
 * to the last star only, letting it take one more character; earlier stars never need to move.
 */
function globMatches(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let star = -1; // the pattern index of the last * seen
  let taken = 0; // where in the name that star's run began
  while (n < name.length) {
    if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      taken = n;
    } else if (p < pattern.length && (pattern[p] === '?' || pattern[p] === name[n])) {
      p++;
      n++;
    } else if (star >= 0) {
      p = star + 1;
      n = ++taken;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}
