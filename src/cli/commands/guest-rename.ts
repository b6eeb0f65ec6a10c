/**
 * @module lodge rename OLD NEW
 */
import type { Command } from 'commander';
import type { LodgeClient } from '../../client/index.js';

export function register(program: Command, client: () => LodgeClient): void {
  program
    .command('rename')
    .alias('mv')
    .description('give a stopped guest another name')
    .argument('<old>', 'the guest, stopped')
    .argument('<new>', 'its new name: lowercase letters, digits and "-", starting with a letter (as at launch)')
    .addHelpText(
      'after',
      [
        '',
        'Its snapshots, schedules, volumes, NICs (with their addresses) and port forwards stay',
        'with it; its networks\' DNS answers for the new name, and a container\'s /etc/hostname',
        'says it. No kind is renamed while it runs: its engine and its hostname were given the',
        'name at start (stop it first). Backups taken before keep the old name in their store.',
        '',
        'Examples:',
        '  lodge stop web1 && lodge rename web1 shop && lodge start shop',
      ].join('\n'),
    )
    .action(async (name: string, to: string) => {
      await client().guests.rename(name, to);
      process.stderr.write(`${name} is now ${to}\n`);
    });
}
