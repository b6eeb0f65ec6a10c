/**
 * @module Sizes as people write them (256M, 1.5G) to bytes and back, shared by the CLI
 * (to check flags early) and the daemon (to apply them).
 */
const units: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

export function parseSize(text: string): number | undefined {
  const m = /^([0-9]+(?:\.[0-9]+)?)([KMGT]?)(?:i?B)?$/.exec(text.trim());
  if (!m) return undefined;
  const bytes = Math.round(Number(m[1]) * units[m[2]!]!);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

export function formatSize(bytes: number): string {
  for (const u of ['T', 'G', 'M', 'K'] as const) {
    const f = units[u]!;
    if (bytes >= f) return `${Number((bytes / f).toFixed(1))}${u}`;
  }
  return `${bytes}B`;
}
