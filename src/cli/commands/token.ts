/**
 * @module lodge token add|list|delete: API tokens for scripts and remote CLIs.
 */
import type { Command } from 'commander';
import type { LodgeClient } from '../../client/index.js';
import { parseFormat, printJson, printTable } from '../output.js';
import { parseRole } from './user.js';

export function register(program: Command, client: () => LodgeClient): void {
  const token = program.command('token').description('manage API tokens: secrets for scripts and for lodge remote on other machines');

  token
    .command('add')
    .description('make a token and print it once (only its hash is kept)')
    .argument('<name>')
    .option('--user <user>', "the user it acts for (it goes when the user does); default: yours, or none on this host's socket")
    .option('--role <role>', "admin or viewer (default: its user's role, admin without a user); never more than its user's")
    .addHelpText('after', '\nExamples:\n  lodge token add laptop\n  lodge token add monitoring --user bob --role viewer\n  lodge remote add prod https://HOST:8443 --token TOKEN   # on the other machine')
    .action(async (name: string, flags: { user?: string; role?: string }) => {
      const t = await client().tokens.add({ name, ...(flags.user ? { user: flags.user } : {}), ...(flags.role ? { role: parseRole(flags.role) } : {}) });
      process.stderr.write(`token ${t.name} made (${t.role}${t.user ? ` for user ${t.user}` : ''}); shown this once, only its hash is kept:\n`);
      process.stdout.write(`${t.token}\n`);
    });

  token
    .command('list')
    .alias('ls')
    .description('list tokens (never their secrets)')
    .option('--format <format>', 'table or json', 'table')
    .action(async (flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const list = await client().tokens.list();
      if (format === 'json') return printJson(list);
      printTable(['NAME', 'USER', 'ROLE', 'CREATED'], list.map((t) => [t.name, t.user ?? '-', t.role, t.createdAt]));
    });

  token
    .command('delete')
    .alias('rm')
    .description('delete a token: it stops working at once')
    .argument('<name>')
    .action(async (name: string) => {
      await client().tokens.delete(name);
      process.stderr.write(`token ${name} deleted\n`);
    });
}
