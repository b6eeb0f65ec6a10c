/**
 * @module The metrics of Beloglazov & Buyya (2012): energy; SLATAH, the share of a host's
 * active time spent at 100 % CPU (its guests asking for more than it has); PDM, the CPU a VM
 * lost to its migrations over the CPU it requested; SLAV = SLATAH × PDM; ESV = energy × SLAV.
 * The paper averages SLATAH over hosts and PDM over VMs, CloudSim pools both; both are kept,
 * the paper's are the headline.
 */

export interface Metrics {
  energyKwh: number;
  slatah: number;
  pdm: number;
  slav: number;
  esv: number;
  migrations: number;
  /** CloudSim's pooled variants. */
  slatahPooled: number;
  pdmPooled: number;
}

export class Meter {
  energyJ = 0;
  migrations = 0;
  readonly activeS: Float64Array;
  readonly fullS: Float64Array;
  readonly requestedMi: Float64Array;
  readonly lostMi: Float64Array;

  constructor(hosts: number, vms: number) {
    this.activeS = new Float64Array(hosts);
    this.fullS = new Float64Array(hosts);
    this.requestedMi = new Float64Array(vms);
    this.lostMi = new Float64Array(vms);
  }

  /** Host `h` was on for `activeS` seconds, `fullS` of them at 100 % CPU. */
  host(h: number, activeS: number, fullS: number): void {
    this.activeS[h]! += activeS;
    this.fullS[h]! += fullS;
  }

  /** VM `v` migrated for `seconds` while requesting `mips`: it lost 10 % of that meanwhile. */
  migration(v: number, mips: number, seconds: number): void {
    this.migrations++;
    this.lostMi[v]! += 0.1 * mips * seconds;
  }

  summary(): Metrics {
    const slatah = meanOfRatios(this.fullS, this.activeS);
    const pdm = meanOfRatios(this.lostMi, this.requestedMi);
    const energyKwh = this.energyJ / 3.6e6;
    return {
      energyKwh,
      slatah,
      pdm,
      slav: slatah * pdm,
      esv: energyKwh * slatah * pdm,
      migrations: this.migrations,
      slatahPooled: ratio(sum(this.fullS), sum(this.activeS)),
      pdmPooled: ratio(sum(this.lostMi), sum(this.requestedMi)),
    };
  }
}

const sum = (a: Float64Array) => a.reduce((x, y) => x + y, 0);
const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);

/** Mean of part/whole over the entries whose whole is positive (hosts never on, VMs that asked for nothing, do not count). */
function meanOfRatios(part: Float64Array, whole: Float64Array): number {
  let total = 0;
  let n = 0;
  whole.forEach((w, i) => {
    if (w > 0) {
      total += part[i]! / w;
      n++;
    }
  });
  return n > 0 ? total / n : 0;
}
