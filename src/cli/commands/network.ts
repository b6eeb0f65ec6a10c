/**
 * @module lodge network list|create|info|delete
 */
import type { Command } from 'commander';
import type { Network } from '../../api/networks.js';
import type { LodgeClient } from '../../client/index.js';
import { parseFormat, printFields, printJson, printTable } from '../output.js';

/** What a network's guests reach beyond the host, short for a table and in a sentence. */
function outside(n: Network): { short: string; long: string } {
  if (!n.nat) return { short: 'isolated', long: 'isolated: its guests reach the host and each other only' };
  if (n.uplink) return { short: 'nat', long: "NAT: its guests reach the host's uplink, masqueraded" };
  return { short: 'host only', long: 'NAT, but lodged runs without --uplink: its guests reach the host and each other only' };
}

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
      printTable(['NAME', 'SUBNET', 'GATEWAY', 'BRIDGE', 'OUTSIDE', 'GUESTS'], networks.map((n) => [n.name, n.subnet, n.gateway, n.bridge, outside(n).short, String(n.guests.length)]));
    });

  network
    .command('create')
    .description('create a network: a bridge on the host holding its first address, DHCP and DNS for its guests')
    .argument('<name>', 'at most 12 characters: the bridge is named lb-NAME')
    .option('--subnet <cidr>', 'IPv4 subnet, e.g. 10.20.0.0/24 (default: a free /24 in 10.0.0.0/8 that no host route uses)')
    .option('--isolated', "no NAT towards the host's uplink: its guests reach the host and each other only")
    .addHelpText(
      'after',
      [
        '',
        'Guests join it at launch and find each other by name (NAME or NAME.lodge). A network',
        "masquerades its guests towards the host's uplink (NAT) unless --isolated, once lodged",
        'runs with --uplink; routing between two Lodge networks is never allowed.',
        '',
        'Examples:',
        '  lodge network create backend',
        '  lodge network create lab --subnet 10.77.0.0/24 --isolated',
        '  lodge launch busybox web1 --network backend',
        '  lodge launch busybox db1 --network lab=10.77.0.10',
      ].join('\n'),
    )
    .action(async (name: string, flags: { subnet?: string; isolated?: boolean }) => {
      const n = await client().networks.create({ name, ...(flags.subnet ? { subnet: flags.subnet } : {}), ...(flags.isolated ? { isolated: true } : {}) });
      process.stderr.write(`network ${n.name} is ready: ${n.subnet} on bridge ${n.bridge}; ${outside(n).long}\n`);
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
        ['Outside', outside(n).long],
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
