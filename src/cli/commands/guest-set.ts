/**
 * @module lodge set NAME --memory ... : change limits, live on a running guest.
 */
import type { Command } from 'commander';
import { LodgeError } from '../../api/errors.js';
import type { LodgeClient } from '../../client/index.js';
import { limitsFromFlags, type LimitFlags } from '../flags.js';

export function register(program: Command, client: () => LodgeClient): void {
  program
    .command('set')
    .description("change a guest's limits; a running guest gets them at once")
    .argument('<name>')
    .option('--cpu <n>', 'CPUs the guest may use')
    .option('--memory <size>', 'memory limit, e.g. 512M')
    .option('--swap <size>', 'swap beyond --memory')
    .option('--processes <n>', 'most processes at once')
    .addHelpText('after', '\nExamples:\n  lodge set web1 --memory 512M\n  lodge set web1 --cpu 0.5 --processes 100')
    .action(async (name: string, flags: LimitFlags) => {
      const limits = limitsFromFlags(flags);
      if (Object.keys(limits).length === 0) throw new LodgeError('BAD_REQUEST', 'nothing to change: give --cpu, --memory, --swap or --processes');
      await client().guests.update(name, { limits });
      process.stderr.write(`${name}: limits changed\n`);
    });
}
