/**
 * @module lodge copy SOURCE NAME
 */
import type { Command } from 'commander';
import type { LodgeClient } from '../../client/index.js';
import { waitFor } from '../progress.js';

export function register(program: Command, client: () => LodgeClient): void {
  program
    .command('copy')
    .alias('cp')
    .description('make a new guest from a guest, or from one of its snapshots')
    .argument('<source>', 'the guest to copy')
    .argument('<name>', 'the new guest')
    .option('--snapshot <snapshot>', 'copy this snapshot of the source instead of the source as it is now')
    .option('--start', 'start the copy once it is made')
    .addHelpText(
      'after',
      [
        '',
        'The copy has the kind, image, options, limits (the snapshot\'s, with --snapshot) and',
        'networks of its source, in the same storage pool: by reference on a btrfs pool, a',
        "sparse copy on a dir pool. It gets a new MAC and address on each network and its own",
        "name inside it. A running source is paused while its root is copied. The source's other",
        'volumes are not copied.',
        '',
        'Examples:',
        '  lodge copy web1 web2 --start',
        '  lodge copy web1 web1-test --snapshot before-upgrade',
      ].join('\n'),
    )
    .action(async (source: string, name: string, flags: { snapshot?: string; start?: boolean }) => {
      const c = client();
      await waitFor(c, c.guests.copy(source, { name, ...(flags.snapshot ? { snapshot: flags.snapshot } : {}), ...(flags.start ? { start: true } : {}) }), `Copying ${source} to ${name}`);
      process.stderr.write(`${name} is ${flags.start ? 'running' : `made (lodge start ${name})`}\n`);
    });
}
