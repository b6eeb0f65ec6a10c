/**
 * @module lodge exec NAME [--] CMD...
 */
import type { Command } from 'commander';
import { LodgeError } from '../../api/errors.js';
import type { ExecRequest } from '../../api/guests.js';
import type { LodgeClient } from '../../client/index.js';
import { execOnPipes } from '../exec-pipes.js';
import { attach } from '../terminal.js';

const collect = (value: string, previous: string[]) => [...previous, value];

function variables(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new LodgeError('BAD_REQUEST', `--env: "${pair}" is not KEY=VALUE`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

export function register(program: Command, client: () => LodgeClient): void {
  program
    .command('exec')
    .description("run a command in a running guest: its output as it is written, its input from lodge's, its exit code lodge's")
    .argument('<name>')
    .argument('<command...>', 'the command and its arguments (after --, or after the name and exec\'s options)')
    .option('-t, --tty', 'interactive, on a pseudo-terminal (a shell, an editor)')
    .option('-e, --env <KEY=VALUE>', 'a variable for the command (repeat for more)', collect, [])
    .option('--cwd <dir>', 'working directory in the guest')
    .addHelpText(
      'after',
      [
        '',
        'Without -t, stdout and stderr stay apart and arrive as the command writes them; stdin (a pipe or a',
        'file) flows to the command as it reads it; Ctrl-C and other signals to lodge reach the command.',
        "A command that does not exist exits 127. exec's options may stand before or after the name; after",
        '--, or from the first word after the name, all is the command.',
        '',
        'Examples:',
        '  lodge exec web1 ps',
        '  lodge exec web1 -- ls -la /etc',
        '  lodge exec -e LANG=C --cwd /srv web1 -- make',
        '  tar c site | lodge exec web1 -- tar x -C /srv',
        '  lodge exec -t web1 sh',
      ].join('\n'),
    )
    .action(async (name: string, command: string[], flags: { tty?: boolean; env: string[]; cwd?: string }) => {
      const c = client();
      const env = variables(flags.env);
      const req: ExecRequest = { command, ...(Object.keys(env).length ? { env } : {}), ...(flags.cwd ? { cwd: flags.cwd } : {}) };
      if (flags.tty) {
        const out = process.stdout;
        const size = out.isTTY ? { cols: out.columns, rows: out.rows } : undefined;
        const result = await attach(c.guests.execUrl(name, req, size ? { size } : {}), {
          connect: c.transport.webSocketOptions(),
          detachable: false,
          onResize: (send) => out.isTTY && out.on('resize', () => send(out.columns, out.rows)),
        });
        process.exitCode = result.exitCode ?? 1;
        return;
      }
      process.exitCode = await execOnPipes(c.guests.execUrl(name, req, { stdio: 'pipes' }), c.transport.webSocketOptions());
    });
}
