/**
 * @module lodge network list|create|info|delete
 */
import type { Command } from 'commander';
import type { LodgeClient } from '../../client/index.js';
import { parseFormat, printFields, printJson, printTable } from '../output.js';

export function register(program: Command, client: () => LodgeClient): void {
  const network = program.command('network').description('manage networks: bridges with addresses, DHCP and DNS that guests join');

  network
    .command('list')
    .alias('ls')
    .description('list networks')
    .option('--format <format>', 'table or json', 'table')
    .action(async (flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const networks = await client().networks.list();
      if (format === 'json') return printJson(networks);
      printTable(['NAME', 'SUBNET', 'GATEWAY', 'BRIDGE', 'GUESTS'], networks.map((n) => [n.name, n.subnet, n.gateway, n.bridge, String(n.guests.length)]));
    });

  network
    .command('create')
    .description('create a network: a bridge on the host holding its first address, DHCP and DNS for its guests')
    .argument('<name>', 'at most 12 characters: the bridge is named lb-NAME')
    .option('--subnet <cidr>', 'IPv4 subnet, e.g. 10.20.0.0/24 (default: a free /24 in 10.0.0.0/8 that no host route uses)')
    .addHelpText('after', '\nGuests join it at launch and find each other by name (NAME or NAME.lodge).\n\nExamples:\n  lodge network create backend\n  lodge network create lab --subnet 10.77.0.0/24\n  lodge launch busybox web1 --network backend\n  lodge launch busybox db1 --network backend=10.77.0.10')
    .action(async (name: string, flags: { subnet?: string }) => {
      const n = await client().networks.create({ name, ...(flags.subnet ? { subnet: flags.subnet } : {}) });
      process.stderr.write(`network ${n.name} is ready: ${n.subnet} on bridge ${n.bridge}\n`);
    });

  network
    .command('info')
    .description('show a network: subnet, gateway, bridge and its guests')
    .argument('<name>')
    .option('--format <format>', 'table or json', 'table')
    .action(async (name: string, flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const n = await client().networks.get(name);
      if (format === 'json') return printJson(n);
      printFields([
        ['Name', n.name],
        ['Subnet', n.subnet],
        ['Gateway', `${n.gateway} (the bridge; DNS and DHCP for the guests)`],
        ['Bridge', n.bridge],
        ['Guests', n.guests.join(', ') || 'none'],
        ['Created', n.createdAt],
      ]);
    });

  network
    .command('delete')
    .alias('rm')
    .description('delete a network that no guest uses')
    .argument('<name>')
    .action(async (name: string) => {
      await client().networks.delete(name);
      process.stderr.write(`network ${name} is deleted\n`);
    });
}
