/**
 * @module lodge user add|list|delete|passwd: who may use the API over HTTPS (lodged --listen).
 */
import type { Command } from 'commander';
import { LodgeError } from '../../api/errors.js';
import { roles, type Role, type UserCreated } from '../../api/users.js';
import type { LodgeClient } from '../../client/index.js';
import { parseFormat, printJson, printTable } from '../output.js';
import { secretFromStdin } from '../stdin-secret.js';

export function parseRole(value: string): Role {
  if (!(roles as readonly string[]).includes(value)) throw new LodgeError('BAD_REQUEST', `--role: "${value}" is not ${roles.join(' or ')}`);
  return value as Role;
}

/** The password Lodge made, shown this once: on stdout alone, so that a script can take it. */
function showPassword(u: UserCreated, what: string): void {
  if (!u.password) return;
  process.stderr.write(`${what}; the password, shown this once (only its hash is kept):\n`);
  process.stdout.write(`${u.password}\n`);
}

export function register(program: Command, client: () => LodgeClient): void {
  const user = program.command('user').description('manage the users who may log in over HTTPS (lodged --listen)');

  user
    .command('add')
    .description('add a user; Lodge makes its password and prints it once, unless --password-stdin')
    .argument('<name>')
    .option('--role <role>', 'admin (everything) or viewer (reads only: no writes, consoles, exec or guest files)', 'admin')
    .option('--password-stdin', 'read the password from stdin instead (at least 8 characters)')
    .addHelpText('after', '\nExamples:\n  lodge user add alice\n  lodge user add bob --role viewer\n  printf %s "$PASSWORD" | lodge user add carol --password-stdin')
    .action(async (name: string, flags: { role: string; passwordStdin?: boolean }) => {
      const role = parseRole(flags.role);
      const password = flags.passwordStdin ? await secretFromStdin('--password-stdin', 'password') : undefined;
      const u = await client().users.add({ name, role, ...(password !== undefined ? { password } : {}) });
      if (u.password) showPassword(u, `user ${u.name} added (${u.role})`);
      else process.stderr.write(`user ${u.name} added (${u.role})\n`);
    });

  user
    .command('list')
    .alias('ls')
    .description('list users')
    .option('--format <format>', 'table or json', 'table')
    .action(async (flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const list = await client().users.list();
      if (format === 'json') return printJson(list);
      printTable(['NAME', 'ROLE', 'CREATED'], list.map((u) => [u.name, u.role, u.createdAt]));
    });

  user
    .command('delete')
    .alias('rm')
    .description('delete a user: its sessions end and its tokens stop working')
    .argument('<name>')
    .action(async (name: string) => {
      await client().users.delete(name);
      process.stderr.write(`user ${name} deleted, with its sessions and tokens\n`);
    });

  user
    .command('passwd')
    .description("set a user's password (made by Lodge and printed once, unless --password-stdin); its sessions end")
    .argument('<name>')
    .option('--password-stdin', 'read the new password from stdin (at least 8 characters)')
    .action(async (name: string, flags: { passwordStdin?: boolean }) => {
      const password = flags.passwordStdin ? await secretFromStdin('--password-stdin', 'password') : undefined;
      const u = await client().users.setPassword(name, password !== undefined ? { password } : {});
      if (u.password) showPassword(u, `password of ${u.name} changed`);
      else process.stderr.write(`password of ${u.name} changed\n`);
    });
}
