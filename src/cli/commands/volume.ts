/**
 * @module lodge volume list|create|info|delete|attach|detach
 */
import type { Command } from 'commander';
import { formatSize } from '../../api/sizes.js';
import type { Volume } from '../../api/volumes.js';
import type { LodgeClient } from '../../client/index.js';
import { parseFormat, printFields, printJson, printTable } from '../output.js';

/** Where a volume is attached, in a few words. */
const attached = (v: Volume) => (v.attachedTo ? `${v.attachedTo.guest}${v.attachedTo.path ? ` at ${v.attachedTo.path}` : ''}${v.attachedTo.device ? ` as ${v.attachedTo.device}` : ''}` : '');

export function register(program: Command, client: () => LodgeClient): void {
  const volume = program.command('volume').description('manage volumes: disks of their own in a storage pool, that outlive the guests they are attached to');

  volume
    .command('list')
    .alias('ls')
    .description('list volumes')
    .option('--format <format>', 'table or json', 'table')
    .action(async (flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const volumes = await client().volumes.list();
      if (format === 'json') return printJson(volumes);
      printTable(['NAME', 'POOL', 'SIZE', 'ATTACHED TO'], volumes.map((v) => [v.name, v.pool, formatSize(v.sizeBytes), attached(v)]));
    });

  volume
    .command('create')
    .description('create a volume: an ext4 filesystem of its size, in a pool')
    .argument('<name>')
    .requiredOption('--size <size>', 'its size, e.g. 10G (at least 64M)')
    .option('--pool <pool>', 'the storage pool that holds it (default: the default pool)')
    .addHelpText(
      'after',
      [
        '',
        'A container sees a volume mounted at a path (attached while it is stopped); a pv or vm',
        'guest sees a disk, hot-plugged while it runs, which it mounts itself. A volume is',
        "one guest's at a time; a guest's delete leaves its volumes. Once a pv or vm guest has",
        "written a volume's filesystem, no container can have it: the host's kernel does not",
        'mount what a guest\'s kernel wrote.',
        '',
        'Examples:',
        '  lodge volume create data --size 10G',
        '  lodge volume attach data web1 /srv/data      # a ct guest',
        '  lodge volume attach data vm1                 # a vm guest: /dev/disk/by-id/virtio-data',
        '  lodge volume detach data vm1',
      ].join('\n'),
    )
    .action(async (name: string, flags: { size: string; pool?: string }) => {
      const v = await client().volumes.create({ name, size: flags.size, ...(flags.pool ? { pool: flags.pool } : {}) });
      process.stderr.write(`volume ${v.name} is ready: ${formatSize(v.sizeBytes)} in storage pool ${v.pool}\n`);
    });

  volume
    .command('info')
    .description('show a volume: its pool, size, use and guest')
    .argument('<name>')
    .option('--format <format>', 'table or json', 'table')
    .action(async (name: string, flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const v = await client().volumes.get(name);
      if (format === 'json') return printJson(v);
      printFields([
        ['Name', v.name],
        ['Pool', v.pool],
        ['Size', formatSize(v.sizeBytes)],
        ['Used', v.usedBytes !== undefined ? `${formatSize(v.usedBytes)} in its pool` : undefined],
        ['Attached to', attached(v) || 'none'],
        ['Created', v.createdAt],
      ]);
    });

  volume
    .command('delete')
    .alias('rm')
    .description('delete a volume that no guest has, and what it holds')
    .argument('<name>')
    .action(async (name: string) => {
      await client().volumes.delete(name);
      process.stderr.write(`volume ${name} is deleted\n`);
    });

  volume
    .command('attach')
    .description('attach a volume to a guest: a stopped ct sees it at PATH when it starts, a pv or vm guest a disk (hot-plugged while it runs)')
    .argument('<name>', 'the volume')
    .argument('<guest>')
    .argument('[path]', 'ct: where the guest sees it, e.g. /srv/data')
    .action(async (name: string, guest: string, path: string | undefined) => {
      const v = await client().volumes.attach(guest, { volume: name, ...(path ? { path } : {}) });
      process.stderr.write(`volume ${name} is attached to ${attached(v)}\n`);
    });

  volume
    .command('detach')
    .description('detach a volume from its guest (it is kept)')
    .argument('<name>', 'the volume')
    .argument('<guest>')
    .action(async (name: string, guest: string) => {
      await client().volumes.detach(guest, name);
      process.stderr.write(`volume ${name} is detached from ${guest}\n`);
    });
}
