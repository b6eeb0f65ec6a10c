/**
 * @module lodge forward add|list|remove: host ports sent on to a guest
 */
import type { Command } from 'commander';
import { LodgeError } from '../../api/errors.js';
import type { LodgeClient } from '../../client/index.js';
import { parseFormat, printJson, printTable } from '../output.js';

function port(value: string, what: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new LodgeError('BAD_REQUEST', `${what}: "${value}" is not a port (1 to 65535)`);
  return n;
}

function proto(value: string): 'tcp' | 'udp' {
  if (value !== 'tcp' && value !== 'udp') throw new LodgeError('BAD_REQUEST', `--proto: "${value}" is not tcp or udp`);
  return value;
}

export function register(program: Command, client: () => LodgeClient): void {
  const forward = program.command('forward').description("forward host ports to guests (nftables DNAT to the guest's eth0)");

  forward
    .command('add')
    .description('send connections to a host port on to a port of the guest; removed with the guest')
    .argument('<name>', 'the guest')
    .argument('<host-port>')
    .argument('<guest-port>')
    .option('--proto <proto>', 'tcp or udp', 'tcp')
    .option('--force', 'allow a host port below 1024')
    .addHelpText(
      'after',
      `
A forward applies to connections from other hosts and from this host to any of its
addresses but 127.0.0.1 (curl http://HOST-ADDRESS:8080/, not localhost:8080). A port
that a host service listens on is refused, naming the service; ports below 1024 need --force.

Examples:
  lodge forward add web1 8080 80
  lodge forward add dns1 5353 53 --proto udp
  lodge forward add web1 443 443 --force`,
    )
    .action(async (name: string, hostPort: string, guestPort: string, flags: { proto: string; force?: boolean }) => {
      const f = await client().networks.addForward(name, {
        hostPort: port(hostPort, 'host-port'),
        guestPort: port(guestPort, 'guest-port'),
        proto: proto(flags.proto),
        ...(flags.force ? { force: true } : {}),
      });
      process.stderr.write(`${f.proto} port ${f.hostPort} goes to ${name} (${f.guestAddress}:${f.guestPort})\n`);
    });

  forward
    .command('list')
    .alias('ls')
    .description("a guest's port forwards, or every guest's")
    .argument('[name]', 'the guest (every guest when left out)')
    .option('--format <format>', 'table or json', 'table')
    .action(async (name: string | undefined, flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const forwards = await client().networks.forwards(name);
      if (format === 'json') return printJson(forwards);
      printTable(['PROTO', 'HOST PORT', 'GUEST', 'GUEST PORT', 'NETWORK'], forwards.map((f) => [f.proto, String(f.hostPort), `${f.guest} (${f.guestAddress})`, String(f.guestPort), f.network]));
    });

  forward
    .command('remove')
    .alias('rm')
    .description('remove a port forward')
    .argument('<name>', 'the guest')
    .argument('<host-port>')
    .option('--proto <proto>', 'tcp or udp', 'tcp')
    .action(async (name: string, hostPort: string, flags: { proto: string }) => {
      await client().networks.removeForward(name, proto(flags.proto), port(hostPort, 'host-port'));
      process.stderr.write(`the forward from ${flags.proto} port ${hostPort} is removed\n`);
    });
}
