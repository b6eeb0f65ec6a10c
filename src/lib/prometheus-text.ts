/**
 * @module The Prometheus text exposition format (version 0.0.4): metric families in,
 * text out. Pure: no registry, no clock. Label values and help text are escaped as the
 * format says (a backslash, a newline, and in label values a double quote); a family
 * with no samples is left out, so that a metric the host cannot measure is absent rather
 * than zero.
 */

export const prometheusContentType = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels?: Labels;
  value: number;
}

/** Cumulative counts per upper bound (le), as a histogram is exposed; +Inf is added from count. */
export interface HistogramSample {
  labels?: Labels;
  buckets: ReadonlyArray<{ le: number; count: number }>;
  sum: number;
  count: number;
}

export type MetricFamily =
  | { name: string; help: string; type: 'counter' | 'gauge'; samples: readonly Sample[] }
  | { name: string; help: string; type: 'histogram'; samples: readonly HistogramSample[] };

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export const escapeHelp = (text: string) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
export const escapeLabelValue = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** A sample value as Go's ParseFloat reads it back: NaN, +Inf and -Inf by name. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function formatLabels(labels: Labels | undefined, extra?: [string, string]): string {
  const pairs = Object.entries(labels ?? {});
  if (extra) pairs.push(extra);
  if (pairs.length === 0) return '';
  for (const [name] of pairs) if (!labelName.test(name) || name.startsWith('__')) throw new Error(`label name ${JSON.stringify(name)} is not a valid Prometheus label name`);
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

/** The families as one exposition, in the order given; names must be unique and valid. */
export function formatMetrics(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const f of families) {
    if (!metricName.test(f.name)) throw new Error(`metric name ${JSON.stringify(f.name)} is not a valid Prometheus metric name`);
    if (seen.has(f.name)) throw new Error(`metric ${f.name} is given twice`);
    seen.add(f.name);
    if (f.samples.length === 0) continue;
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    if (f.type === 'histogram') {
      for (const h of f.samples) {
        for (const b of h.buckets) lines.push(`${f.name}_bucket${formatLabels(h.labels, ['le', formatValue(b.le)])} ${b.count}`);
        lines.push(`${f.name}_bucket${formatLabels(h.labels, ['le', '+Inf'])} ${h.count}`);
        lines.push(`${f.name}_sum${formatLabels(h.labels)} ${formatValue(h.sum)}`, `${f.name}_count${formatLabels(h.labels)} ${h.count}`);
      }
    } else {
      for (const s of f.samples) lines.push(`${f.name}${formatLabels(s.labels)} ${formatValue(s.value)}`);
    }
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}
