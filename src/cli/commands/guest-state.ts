/**
 * @module lodge start|stop|restart|pause|resume NAME
 */
import type { Command } from 'commander';
import type { GuestAction } from '../../api/guests.js';
import type { LodgeClient } from '../../client/index.js';
import { seconds } from '../flags.js';
import { waitFor } from '../progress.js';
import { waitTimeout, waitUntilReady } from '../wait-ready.js';

const verbs: Array<{ action: GuestAction; description: string; done: string; progress: string }> = [
  { action: 'start', description: 'start a stopped guest', done: 'is running', progress: 'Starting' },
  { action: 'stop', description: 'stop a guest: ask its init to shut down, kill it after --timeout', done: 'is stopped', progress: 'Stopping' },
  { action: 'restart', description: 'stop a guest and start it again', done: 'is running', progress: 'Restarting' },
  { action: 'pause', description: 'freeze every process of a guest', done: 'is paused', progress: 'Pausing' },
  { action: 'resume', description: 'thaw a paused guest', done: 'is running', progress: 'Resuming' },
];

export function register(program: Command, client: () => LodgeClient): void {
  for (const verb of verbs) {
    const cmd = program.command(verb.action).description(verb.description).argument('<name>');
    if (verb.action === 'start' || verb.action === 'restart') {
      cmd.option('--wait', 'return once the guest answers exec (has booted), not when its engine runs').option('--wait-timeout <seconds>', 'how long --wait waits', '300');
    }
    if (verb.action === 'stop' || verb.action === 'restart') {
      cmd
        .option('--timeout <seconds>', 'how long the guest has to shut down before it is killed', '30')
        .option('--force', 'kill at once, without asking it to shut down')
        .addHelpText('after', `\nExamples:\n  lodge ${verb.action} web1\n  lodge ${verb.action} web1 --timeout 5\n  lodge ${verb.action} web1 --force`);
    }
    cmd.action(async (name: string, flags: { timeout?: string; force?: boolean; wait?: boolean; waitTimeout?: string }) => {
      const c = client();
      const timeout = flags.timeout !== undefined ? seconds('timeout', flags.timeout) : undefined;
      const waitSeconds = flags.wait ? waitTimeout(flags.waitTimeout!) : undefined;
      const asked = Date.now();
      const op = await c.guests.changeState(name, { action: verb.action, ...(timeout !== undefined ? { timeout } : {}), ...(flags.force ? { force: true } : {}) });
      // a guest that ignores its power button is killed at the timeout (lodged's default of 30 s unless given): a terminal sees it coming
      const waited = timeout ?? 30;
      const stops = verb.action === 'stop' || verb.action === 'restart';
      const kill = stops && !flags.force ? { at: asked + waited * 1000, what: 'killed', during: `for ${waited} s` } : undefined;
      const ended = await waitFor(c, op, `${verb.progress} ${name}`, kill);
      if (waitSeconds !== undefined) await waitUntilReady(c, name, waitSeconds);
      process.stderr.write(`${name} ${flags.wait ? 'is running and answers exec' : verb.done}${ended.result ? ` (${ended.result})` : ''}\n`);
    });
  }
}
