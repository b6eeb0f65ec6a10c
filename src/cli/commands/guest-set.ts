/**
 * @module lodge set NAME --memory ... : change limits, live on a running guest.
 */
import type { Command } from 'commander';
import { LodgeError } from '../../api/errors.js';
import { restartPolicies, type RestartPolicy } from '../../api/guests.js';
import type { LodgeClient } from '../../client/index.js';
import { autonomicFromFlag, autostartFromFlag, autostartOrderFromFlag, limitsFromFlags, priorityFromFlag, type LimitFlags } from '../flags.js';
import { changeLines } from '../guest-settings.js';

export function register(program: Command, client: () => LodgeClient): void {
  program
    .command('set')
    .description("change a guest's limits (a running guest gets them at once where its kind can; the rest is said to wait for its next start), its restart policy, whether the autonomic loop balances its memory and CPU, or its CPU priority")
    .argument('<name>')
    .option('--cpu <n>', 'CPUs the guest may use')
    .option('--memory <size>', 'memory limit (its ceiling), e.g. 512M')
    .option('--memory-floor <size>', 'the least memory the autonomic loop leaves it')
    .option('--swap <size>', 'swap beyond --memory')
    .option('--processes <n>', 'most processes at once')
    .option('--restart <policy>', 'no, on-failure or always (see lodge launch --help)')
    .option('--autonomic <policy>', 'on or off (see lodge launch --help)')
    .option('--priority <priority>', 'low, normal or high: its CPU weight against the other guests (see lodge launch --help)')
    .addHelpText('after', '\nExamples:\n  lodge set web1 --memory 512M\n  lodge set web1 --cpu 0.5 --processes 100\n  lodge set web1 --restart on-failure\n  lodge set db2 --autonomic off\n  lodge set batch1 --priority low\n  lodge set db1 --autostart on --autostart-order 1')
    .option('--autostart <on|off>', 'whether lodged starts it at its own start when it had ended without being stopped (a host reboot; see lodge launch --help)')
    .option('--autostart-order <n>', 'its place among those guests, lower first')
    .action(async (name: string, flags: LimitFlags & { restart?: string; autonomic?: string; priority?: string; autostart?: string; autostartOrder?: string }) => {
      const limits = limitsFromFlags(flags);
      const changed = Object.keys(limits).length > 0;
      if (flags.restart !== undefined && !(restartPolicies as readonly string[]).includes(flags.restart)) throw new LodgeError('BAD_REQUEST', `--restart: "${flags.restart}" is not ${restartPolicies.join(', ')}`);
      const autonomic = autonomicFromFlag(flags.autonomic);
      const priority = priorityFromFlag(flags.priority);
      const autostart = autostartFromFlag(flags.autostart);
      const autostartOrder = autostartOrderFromFlag(flags.autostartOrder);
      const patch = {
        ...(changed ? { limits } : {}),
        ...(flags.restart ? { restart: flags.restart as RestartPolicy } : {}),
        ...(autonomic ? { autonomic } : {}),
        ...(priority ? { priority } : {}),
        ...(autostart !== undefined ? { autostart } : {}),
        ...(autostartOrder !== undefined ? { autostartOrder } : {}),
      };
      if (Object.keys(patch).length === 0) throw new LodgeError('BAD_REQUEST', 'nothing to change: give --cpu, --memory, --memory-floor, --swap, --processes, --restart, --autonomic, --priority, --autostart or --autostart-order');
      const answer = await client().guests.update(name, patch);
      for (const line of changeLines(patch, answer)) process.stderr.write(`${name}: ${line}\n`);
    });
}
