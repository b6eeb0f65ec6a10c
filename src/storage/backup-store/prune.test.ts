import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectKept, type PrunePolicy } from './prune.js';

/** Backups at local times "MM-DD HH" of 2024. */
const at = (...times: string[]) =>
  times.map((t) => {
    const [md, h] = t.split(' ');
    const [m, d] = md!.split('-').map(Number);
    return { id: t, time: new Date(2024, m! - 1, d!, Number(h)).getTime() };
  });

const cases: { name: string; backups: string[]; policy: PrunePolicy; kept: string[] }[] = [
  { name: 'no policy keeps all', backups: ['01-01 10', '01-02 10'], policy: {}, kept: ['01-01 10', '01-02 10'] },
  { name: 'keep-last', backups: ['01-01 10', '01-01 11', '01-01 12'], policy: { keepLast: 2 }, kept: ['01-01 11', '01-01 12'] },
  { name: 'keep-daily keeps the newest of each day', backups: ['01-01 10', '01-01 20', '01-02 08', '01-02 09', '01-03 07'], policy: { keepDaily: 2 }, kept: ['01-02 09', '01-03 07'] },
  { name: 'days kept by keep-last do not count for keep-daily', backups: ['01-01 10', '01-02 10', '01-03 10', '01-03 11'], policy: { keepLast: 1, keepDaily: 2 }, kept: ['01-03 11', '01-02 10', '01-01 10'] },
  // 2024-01-01 is a Monday: ISO weeks 01-01..01-07, 01-08..01-14
  { name: 'keep-weekly keeps the newest of each ISO week', backups: ['01-01 10', '01-07 10', '01-08 10', '01-14 10', '01-15 10'], policy: { keepWeekly: 2 }, kept: ['01-15 10', '01-14 10'] },
  { name: 'daily then weekly', backups: ['01-02 10', '01-05 10', '01-09 10', '01-10 10', '01-11 10'], policy: { keepDaily: 2, keepWeekly: 2 }, kept: ['01-11 10', '01-10 10', '01-05 10'] },
  // ISO week 5 runs from 2024-01-29 (Mon) to 02-04 (Sun), across a month
  { name: 'an older backup of a period weekly chose is not kept by monthly', backups: ['01-30 10', '02-02 10'], policy: { keepWeekly: 1, keepMonthly: 2 }, kept: ['02-02 10'] },
  { name: 'ISO week 1 of 2025 starts on 2024-12-30', backups: ['12-29 10', '12-30 10', '12-31 10'], policy: { keepWeekly: 5 }, kept: ['12-31 10', '12-29 10'] },
];

for (const c of cases) {
  test(`prune: ${c.name}`, () => {
    assert.deepEqual([...selectKept(at(...c.backups), c.policy).keys()].sort(), [...c.kept].sort());
  });
}
