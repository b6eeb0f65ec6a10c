/**
 * @module lodge backup create|list|info|restore|delete|verify|prune|gc
 */
import type { Command } from 'commander';
import type { Backup } from '../../api/backups.js';
import { LodgeError } from '../../api/errors.js';
import { formatSize } from '../../api/sizes.js';
import type { LodgeClient } from '../../client/index.js';
import { count, parseFormat, printFields, printJson, printTable } from '../output.js';
import { schedule } from '../schedule.js';
import { registerFiles, restoreFiles } from './backup-files.js';
import { waitFor } from '../progress.js';

/** The store named, or the only one there is. */
async function storeOf(c: LodgeClient, asked: string | undefined): Promise<string> {
  if (asked) return asked;
  const stores = await c.backups.stores();
  if (stores.length === 1) return stores[0]!.name;
  throw new LodgeError('BAD_REQUEST', stores.length ? `--store: name one of ${stores.map((s) => s.name).join(', ')}` : 'there is no backup store: lodge backup-store create NAME PATH makes one');
}

const size = (n: number | undefined) => (n === undefined ? '' : formatSize(n));

/** The retention flags that were given. */
const keeps = (flags: { keepLast?: string; keepDaily?: string; keepWeekly?: string }) => ({
  ...(flags.keepLast !== undefined ? { keepLast: count('--keep-last', flags.keepLast) } : {}),
  ...(flags.keepDaily !== undefined ? { keepDaily: count('--keep-daily', flags.keepDaily) } : {}),
  ...(flags.keepWeekly !== undefined ? { keepWeekly: count('--keep-weekly', flags.keepWeekly) } : {}),
});

export function register(program: Command, client: () => LodgeClient): void {
  const backup = program
    .command('backup')
    .description('back guests up into a backup store, deduplicated and incremental, and bring them back')
    .addHelpText(
      'after',
      [
        '',
        "A backup keeps a guest's root volume at a point in time (a snapshot: the guest is paused",
        "for that instant) and its settings. Files unchanged since the guest's last backup in the",
        "store are not read again (of a vm, whose whole disk is kept, only the blocks QEMU's dirty",
        'bitmap marks as changed), and a chunk the store has, from any guest, is not stored again.',
        'A backup is restored into a new guest, or over a stopped one; single files and directories',
        'are taken out of it with --files. Backups are named by guest and time.',
        '',
        'Examples:',
        '  lodge backup-store create local /srv/backups',
        '  lodge backup create web1',
        '  lodge backup list web1',
        '  lodge backup restore web1 2026-12-02T07-30-00.000Z --as web1-restored --start',
        '  lodge backup files web1 2026-12-02T07-30-00.000Z /etc',
        '  lodge backup restore web1 2026-12-02T07-30-00.000Z --files /etc/hostname /root --to ./old',
        '  lodge backup verify',
        '  lodge backup prune web1 --keep-last 3 --keep-daily 7',
        '  lodge backup gc',
      ].join('\n'),
    );

  backup
    .command('create')
    .description('back a guest up')
    .argument('<guest>')
    .option('--store <store>', 'the backup store (default: the only one)')
    .action(async (guest: string, flags: { store?: string }) => {
      const c = client();
      const store = await storeOf(c, flags.store);
      await waitFor(c, c.backups.create(guest, { store }), `Backing up ${guest}`);
      const b = (await c.backups.list(store, guest)).filter((x) => x.finished).at(-1);
      process.stderr.write(`${guest} is backed up to ${store} as ${b?.id}: ${size(b?.sizeBytes)}, ${size(b?.readBytes)} read, ${size(b?.storedBytes)} new in the store\n`);
    });

  backup
    .command('list')
    .alias('ls')
    .description('list the backups in a store, of one guest or of all')
    .argument('[guest]')
    .option('--store <store>', 'the backup store (default: the only one)')
    .option('--format <format>', 'table or json', 'table')
    .action(async (guest: string | undefined, flags: { store?: string; format: string }) => {
      const format = parseFormat(flags.format);
      const c = client();
      const list = await c.backups.list(await storeOf(c, flags.store), guest);
      if (format === 'json') return printJson(list);
      printTable(['GUEST', 'ID', 'KIND', 'SIZE', 'NEW IN STORE'], list.map((b: Backup) => [b.guest, b.id, b.settings?.kind ?? '', b.finished ? size(b.sizeBytes) : 'unfinished', size(b.storedBytes)]));
    });

  backup
    .command('info')
    .description('show a backup: its guest, size, and what it cost the store')
    .argument('<guest>')
    .argument('<id>')
    .option('--store <store>', 'the backup store (default: the only one)')
    .option('--format <format>', 'table or json', 'table')
    .action(async (guest: string, id: string, flags: { store?: string; format: string }) => {
      const format = parseFormat(flags.format);
      const c = client();
      const b = await c.backups.get(await storeOf(c, flags.store), guest, id);
      if (format === 'json') return printJson(b);
      printFields([
        ['Guest', b.guest],
        ['Id', b.id],
        ['Store', b.store],
        ['Made', b.createdAt],
        ['Kind', b.settings?.kind],
        ['Image', b.settings?.image],
        ['Size', size(b.sizeBytes)],
        ['Read', size(b.readBytes)],
        ['New in store', size(b.storedBytes)],
      ]);
    });

  backup
    .command('restore')
    .description('make a new guest from a backup, or take files out of it (--files)')
    .argument('<guest>', 'the guest it is a backup of')
    .argument('<id>')
    .option('--as <name>', 'the new guest (default: the backed-up guest\'s name)')
    .option('--over', 'put it back over the existing stopped guest (--as, or the backed-up one): its root is replaced, its settings stay')
    .option('--start', 'start it once made')
    .option('--files <paths...>', 'no guest: these files and directories (absolute, as the guest saw them) into a local directory (after GUEST and ID: it takes every word that follows)')
    .option('--to <dir>', 'with --files: a new or empty directory (default ./GUEST-ID), or - for a tar on standard output')
    .option('--same-owner', 'with --files, as root: keep the guest\'s owners and setuid/setgid/sticky bits (by default the files are yours, without them)')
    .option('--store <store>', 'the backup store (default: the only one)')
    .action(async (guest: string, id: string, flags: { as?: string; over?: boolean; start?: boolean; files?: string[]; to?: string; sameOwner?: boolean; store?: string }) => {
      const c = client();
      if (flags.files) {
        if (flags.as || flags.over || flags.start) throw new LodgeError('BAD_REQUEST', '--files takes files out of the backup: --as, --over and --start make or replace a guest');
        return restoreFiles(c, await storeOf(c, flags.store), guest, id, flags.files, { to: flags.to, sameOwner: flags.sameOwner === true });
      }
      if (flags.to || flags.sameOwner) throw new LodgeError('BAD_REQUEST', '--to and --same-owner are for --files: give --files too');
      const name = flags.as ?? guest;
      const body = { name, ...(flags.over ? { over: true } : {}), ...(flags.start ? { start: true } : {}) };
      await waitFor(c, c.backups.restore(await storeOf(c, flags.store), guest, id, body), `Restoring ${guest} from ${id}`);
      process.stderr.write(`${name} is ${flags.over ? 'put back as' : 'made from'} backup ${guest}/${id}${flags.start ? ' and running' : ''}\n`);
    });

  registerFiles(backup, client, storeOf);

  backup
    .command('delete')
    .alias('rm')
    .description('delete a backup (the chunks only it had go at the next gc)')
    .argument('<guest>')
    .argument('<id...>')
    .option('--store <store>', 'the backup store (default: the only one)')
    .action(async (guest: string, ids: string[], flags: { store?: string }) => {
      const c = client();
      const store = await storeOf(c, flags.store);
      for (const id of ids) {
        await c.backups.delete(store, guest, id);
        process.stderr.write(`backup ${guest}/${id} is deleted\n`);
      }
    });

  backup
    .command('verify')
    .description('re-read and re-hash every chunk the backups use, and say which backups damage breaks')
    .option('--store <store>', 'the backup store (default: the only one)')
    .option('--format <format>', 'table or json', 'table')
    .action(async (flags: { store?: string; format: string }) => {
      const format = parseFormat(flags.format);
      const c = client();
      const store = await storeOf(c, flags.store);
      const r = await c.backups.verify(store);
      if (format === 'json') printJson(r);
      else {
        process.stdout.write(`${r.backups} backups, ${r.chunks} chunks: ${r.ok ? 'all whole' : 'damage found'}\n`);
        for (const d of r.damaged) process.stdout.write(`chunk ${d.chunk}: ${d.error}; breaks ${d.backups.join(', ')}\n`);
        for (const b of r.broken) process.stdout.write(`backup ${b.backup}: ${b.why}\n`);
      }
      if (!r.ok) process.exitCode = 1;
    });

  backup
    .command('prune')
    .description("delete a guest's backups that a retention policy does not keep")
    .argument('<guest>')
    .option('--keep-last <n>', 'keep the last N')
    .option('--keep-daily <n>', 'keep the last of each of the last N days that have one')
    .option('--keep-weekly <n>', 'keep the last of each of the last N weeks that have one')
    .option('--dry-run', 'say what would go, delete nothing')
    .option('--store <store>', 'the backup store (default: the only one)')
    .action(async (guest: string, flags: { keepLast?: string; keepDaily?: string; keepWeekly?: string; dryRun?: boolean; store?: string }) => {
      const c = client();
      const r = await c.backups.prune(await storeOf(c, flags.store), { guest, ...keeps(flags), ...(flags.dryRun ? { dryRun: true } : {}) });
      process.stderr.write(`${flags.dryRun ? 'would keep' : 'kept'} ${r.kept.length}, ${flags.dryRun ? 'would delete' : 'deleted'} ${r.removed.length}${r.removed.length ? `: ${r.removed.join(', ')}` : ''}\n`);
    });

  backup
    .command('schedule')
    .description("back a guest up every so often, pruning its backups (without --every or --off: show the schedule)")
    .argument('<guest>')
    .option('--every <interval>', 'how often: 90s, 15m, 1h, 1d')
    .option('--store <store>', 'the backup store (default: the only one)')
    .option('--keep-last <n>', 'keep the last N')
    .option('--keep-daily <n>', 'keep the last of each of the last N days that have one')
    .option('--keep-weekly <n>', 'keep the last of each of the last N weeks that have one')
    .option('--off', 'remove the schedule (its backups stay)')
    .addHelpText('after', '\nExamples:\n  lodge backup schedule web1 --every 15m --keep-last 4 --keep-daily 7\n  lodge backup schedule web1 --off')
    .action(async (guest: string, flags: { every?: string; store?: string; keepLast?: string; keepDaily?: string; keepWeekly?: string; off?: boolean }) => {
      await schedule(client(), guest, 'backup', flags.off, flags.every ? { every: flags.every, ...(flags.store ? { store: flags.store } : {}), ...keeps(flags) } : undefined);
    });

  backup
    .command('gc')
    .description('remove the chunks no backup uses (safe while backups run)')
    .option('--store <store>', 'the backup store (default: the only one)')
    .action(async (flags: { store?: string }) => {
      const c = client();
      const r = await c.backups.gc(await storeOf(c, flags.store));
      process.stderr.write(`removed ${r.removedChunks} chunks (${formatSize(r.removedBytes)})${r.removedUnfinished.length ? ` and ${r.removedUnfinished.length} unfinished backups` : ''}\n`);
      if (r.missingChunks.length) process.stderr.write(`${r.missingChunks.length} chunks that backups use are missing: lodge backup verify says which backups they break\n`);
    });
}
