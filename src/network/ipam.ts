/**
 * @module IPv4 address plans: subnets in CIDR notation, checked (a network address, not
 * overlapping another), the gateway (the first host address, held by the bridge) and the
 * next free address for a guest. Pure: no I/O, tested beside it.
 */

export interface Subnet {
  /** The network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

export const formatIp = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

export function parseIp(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

const size = (s: Subnet) => 2 ** (32 - s.prefix);
const mask = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** Parses "10.20.0.0/24"; the error says what is wrong with it, for the field `field`. */
export function parseSubnet(text: string, field = 'subnet'): Subnet {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text);
  const ip = m ? parseIp(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === undefined || !(prefix >= 8 && prefix <= 30)) {
    throw new Error(`${field}: "${text}" is not an IPv4 subnet such as 10.20.0.0/24 (prefix length 8 to 30)`);
  }
  const base = (ip & mask(prefix)) >>> 0;
  if (base !== ip) throw new Error(`${field}: ${text} is not a network address (did you mean ${formatIp(base)}/${prefix}?)`);
  return { base, prefix };
}

export const formatSubnet = (s: Subnet) => `${formatIp(s.base)}/${s.prefix}`;

export const overlaps = (a: Subnet, b: Subnet) => a.base < b.base + size(b) && b.base < a.base + size(a);

/** The bridge's own address: the first host address. */
export const gateway = (s: Subnet) => s.base + 1;

/** Addresses guests may have: after the gateway, before the broadcast address. */
export const guestRange = (s: Subnet) => ({ first: gateway(s) + 1, last: s.base + size(s) - 2 });
export const isGuestAddress = (s: Subnet, ip: number) => ip >= guestRange(s).first && ip <= guestRange(s).last;

export const netmask = (s: Subnet) => formatIp(mask(s.prefix));

/** The lowest guest address not in `used`, or undefined when the subnet is full. */
export function nextFree(s: Subnet, used: ReadonlySet<number>): number | undefined {
  for (let ip = gateway(s) + 1; isGuestAddress(s, ip); ip++) if (!used.has(ip)) return ip;
  return undefined;
}

/** The first /24 of 10.x.y.0 that overlaps none of `taken` (the host's routes and Lodge's other networks). */
export function freeSubnet(taken: readonly Subnet[], seed: number): Subnet | undefined {
  for (let i = 0; i < 65536; i++) {
    const n = (seed + i) % 65536;
    const candidate = { base: ((10 << 24) | (n << 8)) >>> 0, prefix: 24 };
    if (!taken.some((t) => overlaps(t, candidate))) return candidate;
  }
  return undefined;
}
