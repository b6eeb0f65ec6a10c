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
 * A glob over the whole name, in time at most the product of their lengths: on a
 * mismatch only the last * takes one more character (a regular expression of many .* backtracks
 * exponentially: `*a` twelve times then `*b` against forty a's took minutes of lodged's one thread).
 */
function globMatches(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let star = -1;
  let afterStar = 0;
  while (n < name.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === name[n])) {
      p++;
      n++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      afterStar = n;
    } else if (star >= 0) {
      p = star + 1;
      n = ++afterStar;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}
