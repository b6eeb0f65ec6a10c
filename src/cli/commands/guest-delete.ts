/**
 * @module lodge delete NAME
 */
import type { Command } from 'commander';
import type { LodgeClient } from '../../client/index.js';
import { waitFor } from '../progress.js';

export function register(program: Command, client: () => LodgeClient): void {
  program
    .command('delete')
    .alias('rm')
    .description('delete a guest and everything Lodge made for it on the host')
    .argument('<name...>')
    .option('--force', 'delete even a running guest (it is killed)')
    .addHelpText('after', '\nExamples:\n  lodge delete web1\n  lodge delete --force web1 web2')
    .action(async (names: string[], flags: { force?: boolean }) => {
      const c = client();
      for (const name of names) {
        await waitFor(c, c.guests.delete(name, flags.force ?? false), `Deleting ${name}`);
        process.stderr.write(`${name} is deleted\n`);
      }
    });
}
