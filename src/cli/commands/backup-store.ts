/**
 * @module lodge backup-store create|list|info|delete
 */
import type { Command } from 'commander';
import type { LodgeClient } from '../../client/index.js';
import { parseFormat, printFields, printJson, printTable } from '../output.js';

export function register(program: Command, client: () => LodgeClient): void {
  const stores = program.command('backup-store').description('manage backup stores: directories Lodge backs guests up into, deduplicated');

  stores
    .command('create')
    .description('make a backup store in a new or empty directory, or add the store a directory holds')
    .argument('<name>')
    .argument('<path>', 'an absolute directory: local disk, NFS, a mounted USB disk')
    .option('--encrypt', 'encrypt every chunk with a key made now and printed once: keep it away from this host, the store is useless without it')
    .option('--key <hex>', "the key of an encrypted store (64 hex digits): a store that exists, or a new one with a key of your own")
    .addHelpText(
      'after',
      [
        '',
        'Chunks are addressed by SHA-256 (HMAC-SHA256 in an encrypted store) and compressed with',
        'zstd; a chunk any backup in the store has is never stored again, whatever the guest.',
        '',
        'Examples:',
        '  lodge backup-store create local /srv/backups',
        '  lodge backup-store create usb /media/usb/lodge --encrypt',
        '  lodge backup-store create usb /media/usb/lodge --key 5f3a...   # on another host',
      ].join('\n'),
    )
    .action(async (name: string, path: string, flags: { encrypt?: boolean; key?: string }) => {
      const s = await client().backups.addStore({ name, path, ...(flags.encrypt ? { encrypt: true } : {}), ...(flags.key ? { key: flags.key } : {}) });
      process.stderr.write(`backup store ${s.name} is ready at ${s.path}${s.encrypted ? ' (encrypted)' : ''}\n`);
      if (s.key) process.stderr.write(`its key, shown this once (keep it away from this host; without it the store cannot be read):\n`);
      if (s.key) process.stdout.write(`${s.key}\n`);
    });

  stores
    .command('list')
    .alias('ls')
    .description('list backup stores')
    .option('--format <format>', 'table or json', 'table')
    .action(async (flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const list = await client().backups.stores();
      if (format === 'json') return printJson(list);
      printTable(['NAME', 'PATH', 'ENCRYPTED'], list.map((s) => [s.name, s.path, s.encrypted ? 'yes' : 'no']));
    });

  stores
    .command('info')
    .description('show a backup store')
    .argument('<name>')
    .option('--format <format>', 'table or json', 'table')
    .action(async (name: string, flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const s = await client().backups.store(name);
      if (format === 'json') return printJson(s);
      printFields([
        ['Name', s.name],
        ['Path', s.path],
        ['Encrypted', s.encrypted ? 'yes' : 'no'],
        ['Added', s.createdAt],
      ]);
    });

  stores
    .command('delete')
    .alias('rm')
    .description('forget a backup store: its backups stay in its directory (lodge backup-store create adds it again)')
    .argument('<name>')
    .action(async (name: string) => {
      await client().backups.removeStore(name);
      process.stderr.write(`backup store ${name} is forgotten; its directory is untouched\n`);
    });
}
