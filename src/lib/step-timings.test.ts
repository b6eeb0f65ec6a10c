import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { programStep, recordingSteps, timed, type StepTiming } from './step-timings.js';

test('steps timed inside an operation land in its record, across awaits and concurrent work', async () => {
  const a: StepTiming[] = [];
  const b: StepTiming[] = [];
  const work = (into: StepTiming[], name: string) =>
    recordingSteps(into, async () => {
      await timed(`${name} outer`, async () => {
        await sleep(5);
        await timed(`${name} inner`, () => sleep(5));
      });
    });
  await Promise.all([work(a, 'a'), work(b, 'b')]);
  assert.deepEqual(a.map((t) => t.step), ['a inner', 'a outer']);
  assert.deepEqual(b.map((t) => t.step), ['b inner', 'b outer']);
  assert.ok(a[1]!.ms >= a[0]!.ms && a[0]!.ms >= 4, `outer ${a[1]!.ms} ms, inner ${a[0]!.ms} ms`);
});

test('a failed step is recorded too, and outside an operation nothing is', async () => {
  const into: StepTiming[] = [];
  await assert.rejects(recordingSteps(into, () => timed('breaks', async () => { throw new Error('no'); })), /no/);
  assert.deepEqual(into.map((t) => t.step), ['breaks']);
  assert.equal(await timed('alone', async () => 7), 7);
});

test('a program is named by its name and first verb', () => {
  assert.equal(programStep(['/usr/sbin/runc', '--root', '/run/lodge/runc', '--log', '/x/log', 'create', '--bundle', '/b', 'id']), '$ runc create');
  assert.equal(programStep(['ip', 'link', 'add', 'x']), '$ ip link');
  assert.equal(programStep(['nsenter', '--net=/proc/1/ns/net', 'ip', '-batch', '-']), '$ nsenter ip');
  assert.equal(programStep(['nft', '-f', '-']), '$ nft');
});
