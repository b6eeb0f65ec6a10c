/**
 * @module What lodged counts of itself for GET /1.0/metrics: operations by action and
 * outcome with their durations (a histogram), and API requests by method, route and
 * status. Operations are counted from the event bus (each operation's first and last
 * event), so Operations knows nothing of metrics; requests are counted by the HTTP
 * server's response hook. In memory: the counters start at zero with lodged.
 */
import type { Labels, MetricFamily } from '../lib/prometheus-text.js';
import type { Events } from './events.js';

/** Upper bounds in seconds: from a quick state change to a long image build. */
export const operationBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600] as const;

/** Counts keyed by their labels, kept in the order first seen. */
class LabelledCounts<T> {
  private readonly entries = new Map<string, { labels: Labels; value: T }>();
  private readonly make: () => T;

  constructor(make: () => T) {
    this.make = make;
  }

  get(labels: Labels): T {
    const key = JSON.stringify(labels);
    let entry = this.entries.get(key);
    if (!entry) this.entries.set(key, (entry = { labels, value: this.make() }));
    return entry.value;
  }

  all(): Array<{ labels: Labels; value: T }> {
    return [...this.entries.values()];
  }
}

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

export class LodgedMetrics {
  private readonly operations = new LabelledCounts(() => ({ n: 0 }));
  private readonly durations = new LabelledCounts<Histogram>(() => ({ counts: operationBuckets.map(() => 0), sum: 0, count: 0 }));
  private readonly requests = new LabelledCounts(() => ({ n: 0 }));
  /** When each running operation began, by id. */
  private readonly started = new Map<string, number>();

  /** Counts every operation that ends from now on; returns the unsubscribe. */
  watch(events: Events): () => void {
    return events.subscribe((e) => {
      if (e.type !== 'operation') return;
      const { id, status } = (e.detail ?? {}) as { id?: string; status?: string };
      if (typeof id !== 'string') return;
      if (status === 'running') {
        if (!this.started.has(id)) this.started.set(id, performance.now());
        return;
      }
      if (status !== 'success' && status !== 'failure') return;
      const began = this.started.get(id);
      this.started.delete(id);
      this.operations.get({ action: e.action, outcome: status }).n++;
      if (began !== undefined) this.observe(e.action, (performance.now() - began) / 1000);
    });
  }

  private observe(action: string, seconds: number): void {
    const h = this.durations.get({ action });
    operationBuckets.forEach((le, i) => {
      if (seconds <= le) h.counts[i]!++;
    });
    h.sum += seconds;
    h.count++;
  }

  /** One answered request; `route` is the route's pattern (/1.0/guests/:name), never the URL, so that names do not multiply series. */
  request(method: string, route: string, status: number): void {
    this.requests.get({ method, route, status: String(status) }).n++;
  }

  families(): MetricFamily[] {
    return [
      { name: 'lodge_operations_total', help: 'Operations that ended since lodged started, by action and outcome (success or failure).', type: 'counter', samples: this.operations.all().map(({ labels, value }) => ({ labels, value: value.n })) },
      {
        name: 'lodge_operation_duration_seconds',
        help: 'How long operations took, from start to end, by action.',
        type: 'histogram',
        samples: this.durations.all().map(({ labels, value }) => ({ labels, buckets: operationBuckets.map((le, i) => ({ le, count: value.counts[i]! })), sum: value.sum, count: value.count })),
      },
      { name: 'lodge_api_requests_total', help: 'API requests answered since lodged started, by method, route pattern and HTTP status.', type: 'counter', samples: this.requests.all().map(({ labels, value }) => ({ labels, value: value.n })) },
    ];
  }
}
