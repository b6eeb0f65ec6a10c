/**
 * @module lodge export NAME FILE and lodge import FILE [NAME]
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { Command } from 'commander';
import type { LodgeClient } from '../../client/index.js';
import { waitFor } from '../progress.js';

export function register(program: Command, client: () => LodgeClient): void {
  program
    .command('export')
    .description('write a guest to one archive that imports on another Lodge host')
    .argument('<name>')
    .argument('<file>', 'the archive to write (- for standard output)')
    .addHelpText(
      'after',
      [
        '',
        "The archive is a tar of the guest's settings and a backup store holding one backup of",
        'its root volume (a point in time: a running guest is paused for that instant): chunks',
        'compressed with zstd and checked by their SHA-256 when it is imported. A container',
        "imports over the host's image of the same name; a pv or vm guest's disk only over the",
        'version of the image it was written over.',
        '',
        'Examples:',
        '  lodge export web1 web1.lodge',
        '  lodge import web1.lodge web1-copy --start     # here or on another host',
      ].join('\n'),
    )
    .action(async (name: string, file: string) => {
      if (file === '-') return void (await client().backups.exportGuest(name, process.stdout));
      // written beside, and named when whole: a failed export leaves no file that looks like one
      const partial = `${file}.partial`;
      try {
        await client().backups.exportGuest(name, createWriteStream(partial, { flags: 'wx', mode: 0o600 }));
        await rename(partial, file);
      } catch (e) {
        await rm(partial, { force: true });
        throw e;
      }
      process.stderr.write(`${name} is exported to ${file}\n`);
    });

  program
    .command('import')
    .description('make a new guest from an archive that lodge export wrote')
    .argument('<file>', 'the archive (- for standard input)')
    .argument('[name]', "the new guest (default: the exported guest's name)")
    .option('--start', 'start it once made')
    .option('--privileged', "make an archive of a privileged container one (its root is the host's root): only for an archive you trust")
    .action(async (file: string, name: string | undefined, flags: { start?: boolean; privileged?: boolean }) => {
      const c = client();
      const data = file === '-' ? process.stdin : createReadStream(file);
      const op = await c.backups.importGuest(data, { ...(name ? { name } : {}), ...(flags.start ? { start: true } : {}), ...(flags.privileged ? { privileged: true } : {}) });
      await waitFor(c, op, `Importing ${op.target}`);
      process.stderr.write(`${op.target} is imported${flags.start ? ' and running' : ''}\n`);
    });
}
