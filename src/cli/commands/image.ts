/**
 * @module lodge image list|build|import|delete
 */
import { createReadStream, existsSync } from 'node:fs';
import type { Command } from 'commander';
import { LodgeError } from '../../api/errors.js';
import { buildableImages } from '../../api/image-names.js';
import { formatSize } from '../../api/sizes.js';
import type { LodgeClient } from '../../client/index.js';
import { parseFormat, printJson, printTable } from '../output.js';
import { waitFor } from '../progress.js';

export function register(program: Command, client: () => LodgeClient): void {
  const image = program.command('image').description('manage images: the root filesystems guests start from');

  image
    .command('list')
    .alias('ls')
    .description('list images')
    .option('--format <format>', 'table or json', 'table')
    .action(async (flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const images = await client().images.list();
      if (format === 'json') return printJson(images);
      printTable(['NAME', 'SIZE', 'INIT', 'SOURCE'], images.map((i) => [i.name, formatSize(i.sizeBytes), i.init, i.source]));
    });

  image
    .command('build')
    .description(`build an image from Debian packages: ${buildableImages.join(' or ')}`)
    .argument('<name>', buildableImages.join(' or '))
    .addHelpText('after', '\nExamples:\n  lodge image build busybox      # seconds, from busybox-static\n  lodge image build debian/12    # minutes, with debootstrap; cached afterwards')
    .action(async (name: string) => {
      if (!(buildableImages as readonly string[]).includes(name)) {
        throw new LodgeError('BAD_REQUEST', `cannot build "${name}": Lodge builds ${buildableImages.join(' and ')}; import anything else with lodge image import`);
      }
      const c = client();
      await waitFor(c, await c.images.build({ name: name as (typeof buildableImages)[number] }), `Building ${name}`);
      process.stderr.write(`image ${name} is ready\n`);
    });

  image
    .command('import')
    .description('import a rootfs tarball (plain or gzip) as an image')
    .argument('<file>', 'the tarball')
    .argument('<name>', 'the image name, e.g. alpine or alpine/3')
    .option('--init <path>', 'the program the guest runs as PID 1', '/sbin/init')
    .option('--stop-signal <signal>', 'the signal that asks init to shut down', 'SIGTERM')
    .addHelpText('after', '\nExamples:\n  lodge image import rootfs.tar.gz mylinux\n  lodge image import rootfs.tar tiny --init /bin/sh')
    .action(async (file: string, name: string, flags: { init: string; stopSignal: string }) => {
      if (!existsSync(file)) throw new LodgeError('BAD_REQUEST', `${file}: no such file`);
      const c = client();
      const op = await c.images.import({ name, init: flags.init, stopSignal: flags.stopSignal }, createReadStream(file));
      await waitFor(c, op, `Importing ${name}`);
      process.stderr.write(`image ${name} is ready\n`);
    });

  image
    .command('delete')
    .alias('rm')
    .description('delete an image that no guest uses')
    .argument('<name>')
    .action(async (name: string) => {
      await client().images.delete(name);
      process.stderr.write(`image ${name} is deleted\n`);
    });
}
