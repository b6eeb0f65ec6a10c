/**
 * @module lodge exec NAME -- CMD...
 */
import type { Command } from 'commander';
import { LodgeError } from '../../api/errors.js';
import type { LodgeClient } from '../../client/index.js';
import { attach } from '../terminal.js';

async function readStdin(): Promise<string | undefined> {
  if (process.stdin.isTTY) return undefined;
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

export function register(program: Command, client: () => LodgeClient): void {
  program
    .command('exec')
    .description('run a command in a running guest; its exit code becomes lodge\'s')
    .argument('<name>')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('-t, --tty', 'interactive, on a pseudo-terminal')
    .option('--env <KEY=VALUE...>', 'environment variables')
    .option('--cwd <dir>', 'working directory in the guest')
    .addHelpText('after', '\nExamples:\n  lodge exec web1 -- ps\n  echo hello | lodge exec web1 -- cat\n  lodge exec -t web1 -- sh')
    .action(async (name: string, command: string[], flags: { tty?: boolean; env?: string[]; cwd?: string }) => {
      const c = client();
      if (flags.tty) {
        const out = process.stdout;
        const size = out.isTTY ? { cols: out.columns, rows: out.rows } : undefined;
        const result = await attach(c.guests.execUrl(name, command, size), {
          connect: c.transport.webSocketOptions(),
          detachable: false,
          onResize: (send) => out.isTTY && out.on('resize', () => send(out.columns, out.rows)),
        });
        process.exitCode = result.exitCode ?? 1;
        return;
      }
      const env: Record<string, string> = {};
      for (const pair of flags.env ?? []) {
        const eq = pair.indexOf('=');
        if (eq < 1) throw new LodgeError('BAD_REQUEST', `--env: "${pair}" is not KEY=VALUE`);
        env[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      const stdin = await readStdin();
      const result = await c.guests.exec(name, {
        command,
        ...(stdin !== undefined ? { stdin } : {}),
        ...(Object.keys(env).length ? { env } : {}),
        ...(flags.cwd ? { cwd: flags.cwd } : {}),
      });
      process.stdout.write(result.stdout);
      process.stderr.write(result.stderr);
      process.exitCode = result.exitCode;
    });
}
