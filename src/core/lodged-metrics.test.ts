import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMetrics } from '../lib/prometheus-text.js';
import { Events } from './events.js';
import { LodgedMetrics } from './lodged-metrics.js';

test('operations are counted by action and outcome when they end, their durations in the histogram', () => {
  const events = new Events();
  const m = new LodgedMetrics();
  const stop = m.watch(events);
  events.emit('operation', 'web1', 'guest.launch', { id: 'a', status: 'running' });
  events.emit('operation', 'web1', 'guest.launch', { id: 'a', status: 'running', progress: 50, step: 'starting' });
  events.emit('operation', 'web1', 'guest.launch', { id: 'a', status: 'success' });
  events.emit('operation', 'web2', 'guest.launch', { id: 'b', status: 'running' });
  events.emit('operation', 'web2', 'guest.launch', { id: 'b', status: 'failure' });
  events.emit('lifecycle', 'web1', 'running');
  stop();
  events.emit('operation', 'web3', 'guest.launch', { id: 'c', status: 'running' });
  events.emit('operation', 'web3', 'guest.launch', { id: 'c', status: 'success' });
  const text = formatMetrics(m.families());
  assert.match(text, /^lodge_operations_total\{action="guest.launch",outcome="success"\} 1$/m);
  assert.match(text, /^lodge_operations_total\{action="guest.launch",outcome="failure"\} 1$/m);
  assert.match(text, /^lodge_operation_duration_seconds_count\{action="guest.launch"\} 2$/m);
  assert.match(text, /^lodge_operation_duration_seconds_bucket\{action="guest.launch",le="0.05"\} 2$/m);
  assert.match(text, /^lodge_operation_duration_seconds_bucket\{action="guest.launch",le="\+Inf"\} 2$/m);
});

test('requests are counted by method, route pattern and status', () => {
  const m = new LodgedMetrics();
  m.request('GET', '/1.0/guests/:name', 200);
  m.request('GET', '/1.0/guests/:name', 200);
  m.request('GET', '/1.0/guests/:name', 404);
  const text = formatMetrics(m.families());
  assert.match(text, /^lodge_api_requests_total\{method="GET",route="\/1.0\/guests\/:name",status="200"\} 2$/m);
  assert.match(text, /^lodge_api_requests_total\{method="GET",route="\/1.0\/guests\/:name",status="404"\} 1$/m);
  assert.doesNotMatch(text, /lodge_operations_total/, 'no operation has ended: the family is left out');
});
