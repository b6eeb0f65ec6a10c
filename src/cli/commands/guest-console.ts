/**
 * @module lodge console NAME
 */
import type { Command } from 'commander';
import type { LodgeClient } from '../../client/index.js';
import { attach } from '../terminal.js';

export function register(program: Command, client: () => LodgeClient): void {
  program
    .command('console')
    .description("attach to a guest's console (Ctrl-] detaches), or print what it has shown")
    .argument('<name>')
    .option('--log', 'print what the console has shown so far and exit')
    .addHelpText('after', '\nExamples:\n  lodge console web1\n  lodge console web1 --log | tail')
    .action(async (name: string, flags: { log?: boolean }) => {
      const c = client();
      if (flags.log) return void process.stdout.write(await c.guests.consoleLog(name));
      if (process.stdin.isTTY) process.stderr.write(`Connected to the console of ${name}; Ctrl-] detaches.\n`);
      await attach(c.guests.consoleUrl(name), { connect: c.transport.webSocketOptions(), detachable: true });
      if (process.stdin.isTTY) process.stderr.write('\nDetached.\n');
    });
}
