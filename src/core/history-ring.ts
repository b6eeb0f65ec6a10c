/**
 * @module A fixed number of the latest samples of a few counters and gauges, kept in typed
 * arrays (memory fixed at creation, whatever lodged's uptime), and the columns a graph draws:
 * each counter as a rate per second between two samples, each gauge as read. A counter that
 * went down (its guest restarted: a new cgroup counts from zero) or a value missing at either
 * end gives a gap (null), never a negative or invented rate.
 */

export type Column = Array<number | null>;

export class HistoryRing<F extends string> {
  private readonly fields: readonly F[];
  private readonly capacity: number;
  private readonly times: Float64Array;
  private readonly values: Record<F, Float64Array>;
  /** Samples held (at most capacity), and where the next one goes. */
  private size = 0;
  private next = 0;

  constructor(fields: readonly F[], capacity: number) {
    this.fields = fields;
    this.capacity = capacity;
    this.times = new Float64Array(capacity);
    this.values = Object.fromEntries(fields.map((f) => [f, new Float64Array(capacity)])) as Record<F, Float64Array>;
  }

  /** Adds a sample taken at `time` (seconds); a field it lacks is a gap. The oldest goes when the ring is full. */
  push(time: number, sample: Partial<Record<F, number>>): void {
    this.times[this.next] = time;
    for (const f of this.fields) this.values[f][this.next] = sample[f] ?? NaN;
    this.next = (this.next + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
  }

  get length(): number {
    return this.size;
  }

  /** The index in the arrays of the i-th sample held, oldest first. */
  private at(i: number): number {
    return (this.next - this.size + i + this.capacity) % this.capacity;
  }

  /** The times of the samples held, oldest first. */
  time(): number[] {
    return Array.from({ length: this.size }, (_, i) => this.times[this.at(i)]!);
  }

  /** A gauge's values, oldest first. */
  gauge(f: F): Column {
    return Array.from({ length: this.size }, (_, i) => orNull(this.values[f][this.at(i)]!));
  }

  /** A counter's rate per second over the gap before each sample (the first has none). */
  rate(f: F): Column {
    return Array.from({ length: this.size }, (_, i) => (i === 0 ? null : this.rateBetween(f, this.at(i - 1), this.at(i))));
  }

  /** The rate of a counter over the last two samples, for "now". */
  lastRate(f: F): number | null {
    return this.size < 2 ? null : this.rateBetween(f, this.at(this.size - 2), this.at(this.size - 1));
  }

  /** A gauge's last value. */
  lastGauge(f: F): number | null {
    return this.size === 0 ? null : orNull(this.values[f][this.at(this.size - 1)]!);
  }

  private rateBetween(f: F, a: number, b: number): number | null {
    const dv = this.values[f][b]! - this.values[f][a]!;
    const dt = this.times[b]! - this.times[a]!;
    return Number.isNaN(dv) || dv < 0 || dt <= 0 ? null : dv / dt;
  }
}

const orNull = (v: number) => (Number.isNaN(v) ? null : v);
