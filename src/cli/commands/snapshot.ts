/**
 * @module lodge snapshot create|list|info|restore|delete
 */
import type { Command } from 'commander';
import { formatSize } from '../../api/sizes.js';
import type { Snapshot } from '../../api/snapshots.js';
import type { LodgeClient } from '../../client/index.js';
import { count, parseFormat, printFields, printJson, printTable } from '../output.js';
import { schedule } from '../schedule.js';
import { waitFor } from '../progress.js';

/** The limits a snapshot keeps, in a few words. */
const limits = (s: Snapshot) =>
  Object.entries(s.limits)
    .filter((e) => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

export function register(program: Command, client: () => LodgeClient): void {
  const snapshot = program
    .command('snapshot')
    .description("keep a guest's root volume as it is now, and go back to it later (or copy a new guest from it)")
    .addHelpText(
      'after',
      [
        '',
        "A snapshot keeps the guest's root volume and its limits. It is made by reference in an",
        'instant on a btrfs pool, and as a sparse copy on a dir pool; a running guest is paused',
        "while it is made (a crash-consistent point in time, as if the power went). A guest's",
        'other volumes are not in its snapshots. Restoring a running guest kills it and starts',
        'it again from the snapshot.',
        '',
        'Examples:',
        '  lodge snapshot create web1 before-upgrade',
        '  lodge snapshot list web1',
        '  lodge snapshot restore web1 before-upgrade',
        '  lodge copy web1 web1-test --snapshot before-upgrade',
        '  lodge snapshot delete web1 before-upgrade',
      ].join('\n'),
    );

  snapshot
    .command('create')
    .description('take a snapshot of a guest')
    .argument('<guest>')
    .argument('[name]', 'its name (default: snap0, snap1, ...)')
    .option('--stateful', "keep the running guest's memory too (kinds with the statefulSnapshot feature: lodge host)")
    .action(async (guest: string, name: string | undefined, flags: { stateful?: boolean }) => {
      const c = client();
      const op = await waitFor(c, c.snapshots.create(guest, { ...(name ? { name } : {}), ...(flags.stateful ? { stateful: true } : {}) }), `Snapshotting ${guest}`);
      const taken = name ?? (await c.snapshots.list(guest)).at(-1)?.name;
      const ms = op.timings?.reduce((sum, t) => sum + t.ms, 0);
      process.stderr.write(`${guest} has snapshot ${taken}${ms !== undefined ? ` (${Math.round(ms)} ms)` : ''}\n`);
    });

  snapshot
    .command('list')
    .alias('ls')
    .description("list a guest's snapshots, oldest first")
    .argument('<guest>')
    .option('--format <format>', 'table or json', 'table')
    .action(async (guest: string, flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const snapshots = await client().snapshots.list(guest);
      if (format === 'json') return printJson(snapshots);
      printTable(['NAME', 'TAKEN', 'GUEST WAS', 'STATEFUL', 'LIMITS'], snapshots.map((s) => [s.name, s.createdAt, s.guestState, s.stateful ? 'yes' : 'no', limits(s)]));
    });

  snapshot
    .command('info')
    .description('show a snapshot: when it was taken, what it keeps and what it takes in its pool')
    .argument('<guest>')
    .argument('<name>')
    .option('--format <format>', 'table or json', 'table')
    .action(async (guest: string, name: string, flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const s = await client().snapshots.get(guest, name);
      if (format === 'json') return printJson(s);
      printFields([
        ['Name', s.name],
        ['Guest', s.guest],
        ['Taken', s.createdAt],
        ['Guest was', s.guestState],
        ['Stateful', s.stateful ? 'yes: it keeps the memory of the running guest' : 'no'],
        ['Limits', limits(s) || 'none'],
        ['Takes', s.usedBytes !== undefined ? `${formatSize(s.usedBytes)} in its pool that the guest does not share` : undefined],
      ]);
    });

  snapshot
    .command('restore')
    .description('put a guest back as a snapshot keeps it (a running guest is killed and started again)')
    .argument('<guest>')
    .argument('<name>')
    .action(async (guest: string, name: string) => {
      const c = client();
      await waitFor(c, c.snapshots.restore(guest, name), `Restoring ${guest} from ${name}`);
      process.stderr.write(`${guest} is as snapshot ${name} keeps it\n`);
    });

  snapshot
    .command('schedule')
    .description("take a guest's snapshots every so often, keeping the last ones (without --every or --off: show the schedule)")
    .argument('<guest>')
    .option('--every <interval>', 'how often: 90s, 15m, 1h, 1d')
    .option('--keep <n>', "how many of the schedule's snapshots (auto-...) to keep", '24')
    .option('--off', 'remove the schedule (its snapshots stay)')
    .addHelpText('after', '\nExamples:\n  lodge snapshot schedule web1 --every 1h --keep 24\n  lodge snapshot schedule web1\n  lodge snapshot schedule web1 --off')
    .action(async (guest: string, flags: { every?: string; keep: string; off?: boolean }) => {
      await schedule(client(), guest, 'snapshot', flags.off, flags.every ? { every: flags.every, keep: count('--keep', flags.keep) } : undefined);
    });

  snapshot
    .command('delete')
    .alias('rm')
    .description('delete a snapshot')
    .argument('<guest>')
    .argument('<name...>')
    .action(async (guest: string, names: string[]) => {
      for (const name of names) {
        await client().snapshots.delete(guest, name);
        process.stderr.write(`snapshot ${name} of ${guest} is deleted\n`);
      }
    });
}
