/**
 * @module lodge image list|build|import|delete
 */
import { createReadStream, existsSync } from 'node:fs';
import type { Command } from 'commander';
import { LodgeError } from '../../api/errors.js';
import { buildableImageInfo, buildableImages } from '../../api/image-names.js';
import type { ImportFormat } from '../../api/images.js';
import { formatSize } from '../../api/sizes.js';
import type { LodgeClient } from '../../client/index.js';
import { parseFormat, printJson, printTable } from '../output.js';
import { waitFor } from '../progress.js';

export function register(program: Command, client: () => LodgeClient): void {
  const image = program.command('image').description('manage images: the root filesystems, disks and ISOs guests start from');

  image
    .command('list')
    .alias('ls')
    .description('list images, or with --available those Lodge can build')
    .option('--available', 'the images lodge image build makes, and whether each is built here')
    .option('--format <format>', 'table or json', 'table')
    .addHelpText('after', '\nExamples:\n  lodge image list\n  lodge image list --available')
    .action(async (flags: { format: string; available?: boolean }) => {
      const format = parseFormat(flags.format);
      const images = await client().images.list();
      if (flags.available) {
        const built = new Set(images.map((i) => i.name));
        const available = buildableImages.map((name) => ({ name, built: built.has(name), ...buildableImageInfo[name] }));
        if (format === 'json') return printJson(available);
        return printTable(['NAME', 'BUILT', 'KINDS', 'WHAT'], available.map((a) => [a.name, a.built ? 'yes' : `no (lodge image build ${a.name})`, a.kinds, a.about]));
      }
      if (format === 'json') return printJson(images);
      printTable(['NAME', 'FORMAT', 'SIZE', 'INIT', 'SOURCE'], images.map((i) => [i.name, i.format, formatSize(i.sizeBytes), i.format === 'rootfs' ? i.init : '-', i.source]));
    });

  image
    .command('build')
    .description(`build an image from Debian packages: ${buildableImages.join(' or ')}`)
    .argument('<name>', buildableImages.join(' or '))
    .addHelpText(
      'after',
      '\nExamples:\n  lodge image build busybox      # seconds, from busybox-static\n  lodge image build debian/12    # minutes, with debootstrap; cached afterwards\n  lodge image build busybox-iso  # a live ISO (GRUB, cloud kernel, busybox) for vm guests booting through firmware',
    )
    .action(async (name: string) => {
      if (!(buildableImages as readonly string[]).includes(name)) {
        throw new LodgeError('BAD_REQUEST', `cannot build "${name}": Lodge builds ${buildableImages.join(' and ')}; import anything else with lodge image import`);
      }
      const c = client();
      await waitFor(c, c.images.build({ name: name as (typeof buildableImages)[number] }), `Building ${name}`);
      process.stderr.write(`image ${name} is ready\n`);
    });

  image
    .command('import')
    .description('import a rootfs tarball (plain, gzip, xz or zstd), or a qcow2 disk, raw disk or ISO for vm guests, as an image')
    .argument('<file>', 'the tarball, disk or ISO')
    .argument('<name>', 'the image name, e.g. alpine or alpine/3')
    .option('--type <type>', 'auto, tar, qcow2, raw or iso; auto tells a tarball, qcow2 and ISO apart, a raw disk must be named', 'auto')
    .option('--init <path>', 'tarballs: the program the guest runs as PID 1', '/sbin/init')
    .option('--stop-signal <signal>', 'tarballs: the signal that asks init to shut down', 'SIGTERM')
    .addHelpText(
      'after',
      '\nDisks and ISOs are checked with qemu-img first: a corrupt, truncated or unbootable file is refused.\n\nExamples:\n  lodge image import rootfs.tar.gz mylinux\n  lodge image import rootfs.tar.xz alpine    # and .tar.zst\n  lodge image import rootfs.tar tiny --init /bin/sh\n  lodge image import debian.qcow2 debian-cloud\n  lodge image import disk.img mydisk --type raw\n  lodge image import installer.iso freebsd-iso',
    )
    .action(async (file: string, name: string, flags: { type: string; init: string; stopSignal: string }) => {
      if (!existsSync(file)) throw new LodgeError('BAD_REQUEST', `${file}: no such file`);
      if (!['auto', 'tar', 'qcow2', 'raw', 'iso'].includes(flags.type)) throw new LodgeError('BAD_REQUEST', `--type: "${flags.type}" is not auto, tar, qcow2, raw or iso`);
      const c = client();
      const op = await c.images.import({ name, format: flags.type as ImportFormat, init: flags.init, stopSignal: flags.stopSignal }, createReadStream(file));
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
