/**
 * @module lodge storage list|create|info|delete
 */
import type { Command } from 'commander';
import { formatSize } from '../../api/sizes.js';
import type { StoragePool } from '../../api/storage.js';
import type { LodgeClient } from '../../client/index.js';
import { parseFormat, printFields, printJson, printTable } from '../output.js';

const used = (p: StoragePool) => `${formatSize(p.usedBytes)} of ${formatSize(p.totalBytes)}`;

export function register(program: Command, client: () => LodgeClient): void {
  const storage = program.command('storage').description("manage storage pools: where guests' root volumes live");

  storage
    .command('list')
    .alias('ls')
    .description('list storage pools')
    .option('--format <format>', 'table or json', 'table')
    .action(async (flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const c = client();
      const [pools, host] = await Promise.all([c.storage.list(), c.host()]);
      if (format === 'json') return printJson(pools);
      printTable(
        ['NAME', 'DRIVER', 'SOURCE', 'USED', 'VOLUMES', 'DEFAULT'],
        pools.map((p) => [p.name, p.driver, p.source, used(p), String(p.volumes), p.default ? 'yes' : '']),
      );
      if (host.storage) process.stderr.write(`\nThe default pool is ${host.storage.defaultPool}: ${host.storage.reason}\n`);
    });

  storage
    .command('create')
    .description('create a storage pool')
    .argument('<name>')
    .requiredOption('--driver <driver>', 'dir (directories; an ext4 file per container root) or btrfs (subvolumes with quotas)')
    .option('--source <path>', 'dir: a directory; btrfs: an empty block device, which Lodge formats (default: in lodged\'s state directory, for btrfs a sparse file)')
    .option('--size <size>', 'btrfs on a file: the size of the file, e.g. 50G (sparse; default a fifth of the free space, 5G to 100G)')
    .option('--volume-size <size>', 'the size of a container root launched without --disk (default 10G)')
    .addHelpText(
      'after',
      [
        '',
        "Every guest's root is a volume of a pool, held to its size: a container's by the pool",
        "(--disk, or the pool's volume size), a vm or pv guest's by its disk. A guest that",
        'writes past it gets ENOSPC (dir) or EDQUOT (btrfs) while the host and the others go on.',
        '',
        'Examples:',
        '  lodge storage create fast --driver btrfs --size 50G',
        '  lodge storage create disk2 --driver btrfs --source /dev/vdb',
        '  lodge storage create plain --driver dir --source /srv/lodge --volume-size 4G',
        '  lodge launch busybox web1 --pool fast',
      ].join('\n'),
    )
    .action(async (name: string, flags: { driver: string; source?: string; size?: string; volumeSize?: string }) => {
      const p = await client().storage.create({
        name,
        driver: flags.driver as StoragePool['driver'],
        ...(flags.source ? { source: flags.source } : {}),
        ...(flags.size ? { size: flags.size } : {}),
        ...(flags.volumeSize ? { volumeSize: flags.volumeSize } : {}),
      });
      process.stderr.write(`storage pool ${p.name} is ready: ${p.driver} on ${p.source}, ${formatSize(p.totalBytes)}\n`);
    });

  storage
    .command('info')
    .description('show a storage pool: its driver, source, space and volumes')
    .argument('<name>')
    .option('--format <format>', 'table or json', 'table')
    .action(async (name: string, flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const p = await client().storage.get(name);
      if (format === 'json') return printJson(p);
      printFields([
        ['Name', p.name],
        ['Driver', p.driver],
        ['Source', p.source],
        ['Mounted on', p.path],
        ['Used', used(p)],
        ['Volumes', p.volumes],
        ['Volume size', `${formatSize(p.volumeSizeBytes)} (a container root launched without --disk)`],
        ['Default', p.default ? 'yes' : 'no'],
        ['Created', p.createdAt],
      ]);
    });

  storage
    .command('delete')
    .alias('rm')
    .description('delete a storage pool that holds no volume (its file, or what Lodge made in its directory, goes too)')
    .argument('<name>')
    .action(async (name: string) => {
      await client().storage.delete(name);
      process.stderr.write(`storage pool ${name} is deleted\n`);
    });
}
