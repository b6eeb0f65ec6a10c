/**
 * @module Which backups a retention policy keeps: PBS's (and restic's) semantics, as a
 * pure function. The rules run in order (last, hourly, daily, weekly, monthly, yearly),
 * each over the backups newest first: a rule keeps the newest backup of each of its N
 * most recent periods, where periods that an earlier rule already kept a backup in do
 * not count, and the older backups of a period a rule chose are out for later rules. Periods are of local time (as PBS); weeks are ISO weeks. A policy that keeps
 * nothing by any rule keeps everything (no policy is not "delete all").
 */
export interface PrunePolicy {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
}

export interface Dated {
  id: string;
  /** ms since the epoch */
  time: number;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function isoWeek(d: Date): string {
  // the Thursday of this ISO week decides its year
  const t = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  const day = (t.getDay() + 6) % 7;
  t.setDate(t.getDate() - day + 3);
  const firstThursday = new Date(t.getFullYear(), 0, 4);
  const week = 1 + Math.round(((t.getTime() - firstThursday.getTime()) / 86_400_000 - 3 + ((firstThursday.getDay() + 6) % 7)) / 7);
  return `${t.getFullYear()}/${pad(week)}`;
}

const periods: [keyof PrunePolicy, (d: Date, id: string) => string][] = [
  ['keepLast', (_d, id) => id],
  ['keepHourly', (d) => `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())}/${pad(d.getHours())}`],
  ['keepDaily', (d) => `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())}`],
  ['keepWeekly', isoWeek],
  ['keepMonthly', (d) => `${d.getFullYear()}/${pad(d.getMonth() + 1)}`],
  ['keepYearly', (d) => `${d.getFullYear()}`],
];

/** The ids to keep, each with the rules that keep it. */
export function selectKept(backups: readonly Dated[], policy: PrunePolicy): Map<string, string[]> {
  const newestFirst = [...backups].sort((a, b) => b.time - a.time || (a.id < b.id ? 1 : -1));
  const kept = new Map<string, string[]>();
  // a backup passed over in a period a rule chose is out for the later rules too (PBS's "remove" mark)
  const passed = new Set<string>();
  const any = periods.some(([rule]) => (policy[rule] ?? 0) > 0);
  if (!any) {
    for (const b of newestFirst) kept.set(b.id, ['no policy']);
    return kept;
  }
  for (const [rule, periodOf] of periods) {
    const keep = policy[rule] ?? 0;
    if (keep <= 0) continue;
    const already = new Set(newestFirst.filter((b) => kept.has(b.id)).map((b) => periodOf(new Date(b.time), b.id)));
    const chosen = new Set<string>();
    for (const b of newestFirst) {
      if (kept.has(b.id) || passed.has(b.id)) continue;
      const period = periodOf(new Date(b.time), b.id);
      if (already.has(period)) continue;
      if (chosen.has(period)) {
        passed.add(b.id);
        continue;
      }
      if (chosen.size >= keep) break;
      chosen.add(period);
      kept.set(b.id, [rule]);
    }
  }
  return kept;
}
