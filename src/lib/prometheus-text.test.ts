import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeLabelValue, formatMetrics, formatValue } from './prometheus-text.js';

test('counters and gauges: HELP, TYPE, then one line per sample with its labels', () => {
  const text = formatMetrics([
    { name: 'lodge_guest_cpu_seconds_total', help: 'CPU time', type: 'counter', samples: [{ labels: { name: 'web1', kind: 'ct' }, value: 1.5 }] },
    { name: 'lodge_guests', help: 'guests', type: 'gauge', samples: [{ value: 3 }] },
  ]);
  assert.equal(
    text,
    [
      '# HELP lodge_guest_cpu_seconds_total CPU time',
      '# TYPE lodge_guest_cpu_seconds_total counter',
      'lodge_guest_cpu_seconds_total{name="web1",kind="ct"} 1.5',
      '# HELP lodge_guests guests',
      '# TYPE lodge_guests gauge',
      'lodge_guests 3',
      '',
    ].join('\n'),
  );
});

test('label values escape backslash, double quote and newline; help escapes backslash and newline', () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  const text = formatMetrics([{ name: 'm', help: 'one\\two\nthree "q"', type: 'gauge', samples: [{ labels: { route: '/1.0/guests/"x"\n' }, value: 1 }] }]);
  assert.equal(text, '# HELP m one\\\\two\\nthree "q"\n# TYPE m gauge\nm{route="/1.0/guests/\\"x\\"\\n"} 1\n');
});

test('a histogram: cumulative buckets, +Inf from its count, then sum and count', () => {
  const text = formatMetrics([
    {
      name: 'lodge_operation_duration_seconds',
      help: 'durations',
      type: 'histogram',
      samples: [{ labels: { action: 'guest.launch' }, buckets: [{ le: 0.5, count: 1 }, { le: 1, count: 2 }], sum: 1.25, count: 3 }],
    },
  ]);
  assert.deepEqual(text.split('\n').slice(2, -1), [
    'lodge_operation_duration_seconds_bucket{action="guest.launch",le="0.5"} 1',
    'lodge_operation_duration_seconds_bucket{action="guest.launch",le="1"} 2',
    'lodge_operation_duration_seconds_bucket{action="guest.launch",le="+Inf"} 3',
    'lodge_operation_duration_seconds_sum{action="guest.launch"} 1.25',
    'lodge_operation_duration_seconds_count{action="guest.launch"} 3',
  ]);
});

test('special values are spelled as Prometheus parses them; a family without samples is left out', () => {
  assert.deepEqual([NaN, Infinity, -Infinity, 0, 1e21].map(formatValue), ['NaN', '+Inf', '-Inf', '0', '1e+21']);
  assert.equal(formatMetrics([{ name: 'lodge_nothing', help: 'x', type: 'gauge', samples: [] }]), '');
});

test('invalid or repeated names are refused, naming them', () => {
  assert.throws(() => formatMetrics([{ name: 'lodge-bad', help: '', type: 'gauge', samples: [{ value: 1 }] }]), /lodge-bad/);
  assert.throws(() => formatMetrics([{ name: 'm', help: '', type: 'gauge', samples: [{ labels: { 'bad-label': 'x' }, value: 1 }] }]), /bad-label/);
  assert.throws(() => formatMetrics([{ name: 'm', help: '', type: 'gauge', samples: [{ labels: { __name__: 'x' }, value: 1 }] }]), /__name__/);
  const twice = { name: 'm', help: '', type: 'gauge', samples: [{ value: 1 }] } as const;
  assert.throws(() => formatMetrics([twice, twice]), /m is given twice/);
});
