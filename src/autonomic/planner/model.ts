/**
 * @module What the planner reasons about: host types with their capacity and measured
 * power (SPECpower tables at 0, 10, ..., 100 % load, linearly interpolated), VM types,
 * and the power of a host at a given load. An empty host is asleep and draws 0 W; a host
 * with guests draws at least its idle power. Pure data and arithmetic: no engine, no clock.
 */

export interface HostType {
  readonly name: string;
  /** MIPS of one core; a one-core VM never gets more than this. */
  readonly coreMips: number;
  readonly cores: number;
  readonly ramMb: number;
  readonly bwMbit: number;
  /** Watts at 0, 10, ..., 100 % CPU (11 values). */
  readonly power: readonly number[];
}

export interface VmType {
  readonly name: string;
  readonly mips: number;
  readonly ramMb: number;
  readonly bwMbit: number;
}

/** The two hosts of Beloglazov & Buyya (2012), 4 GB and 1 Gbit/s each. */
export const hostTypes = {
  g4: { name: 'HP ProLiant ML110 G4', coreMips: 1860, cores: 2, ramMb: 4096, bwMbit: 1000, power: [86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117] },
  g5: { name: 'HP ProLiant ML110 G5', coreMips: 2660, cores: 2, ramMb: 4096, bwMbit: 1000, power: [93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135] },
} as const satisfies Record<string, HostType>;

/** Their four one-core VM types (CloudSim's RAM: 1740 MB for the 2000-MIPS type, not the paper's 3.75 GB). */
export const vmTypes: readonly VmType[] = [
  { name: 'high-cpu medium', mips: 2500, ramMb: 870, bwMbit: 100 },
  { name: 'extra large', mips: 2000, ramMb: 1740, bwMbit: 100 },
  { name: 'small', mips: 1000, ramMb: 1740, bwMbit: 100 },
  { name: 'micro', mips: 500, ramMb: 613, bwMbit: 100 },
];

export const hostMips = (t: HostType): number => t.coreMips * t.cores;

/** Watts at `load` (0..1) by linear interpolation of the table; throws outside 0..1. */
export function powerAt(t: HostType, load: number): number {
  if (!(load >= 0 && load <= 1)) throw new RangeError(`load ${load} of ${t.name} is outside 0..1`);
  const x = load * 10;
  const i = Math.min(9, Math.floor(x));
  return t.power[i]! + (t.power[i + 1]! - t.power[i]!) * (x - i);
}

/** A host's power: 0 W when it holds no guest (asleep), else the table at its load, capped at 100 %. */
export function hostPower(t: HostType, guests: number, load: number): number {
  return guests === 0 ? 0 : powerAt(t, Math.min(1, load));
}

/** Seconds to live-migrate `ramMb` over half of a `bwMbit` link (the other half stays for the guests). */
export function migrationSeconds(ramMb: number, bwMbit: number): number {
  return ramMb / (bwMbit / 2 / 8);
}

/** The paper's data centre: `n` hosts, G4 and G5 alternating (CloudSim's order). */
export function dataCentre(n: number): HostType[] {
  return Array.from({ length: n }, (_, i) => (i % 2 === 0 ? hostTypes.g4 : hostTypes.g5));
}
