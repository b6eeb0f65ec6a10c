/**
 * @module The guest list's filter: words that must all match. `kind:ct`, `state:running`,
 * `image:busybox`, `network:default` and `name:web` match that field (kind and state exactly,
 * the others as a part); a bare word matches a part of the name or image, or the kind or state.
 */
import type { Guest } from '../api/guests.js';

const keyed = ['kind', 'state', 'image', 'network', 'name'] as const;
type Key = (typeof keyed)[number];

function matches(g: Guest, key: Key, value: string): boolean {
  switch (key) {
    case 'kind':
      return g.kind === value;
    case 'state':
      return g.state === value;
    case 'image':
      return g.image.toLowerCase().includes(value);
    case 'network':
      return (g.nics ?? []).some((n) => n.network.toLowerCase().includes(value));
    case 'name':
      return g.name.includes(value);
  }
}

/** Whether `g` passes every word of `filter` (an empty filter passes all). */
export function passes(g: Guest, filter: string): boolean {
  return filter
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((word) => {
      const m = /^(\w+):(.*)$/.exec(word);
      if (m && (keyed as readonly string[]).includes(m[1]!)) return matches(g, m[1] as Key, m[2]!);
      return g.name.includes(word) || g.image.toLowerCase().includes(word) || g.kind === word || g.state === word;
    });
}
