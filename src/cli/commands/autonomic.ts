/**
 * @module lodge autonomic status|log|pause|resume: what the loop does, what it did and why.
 */
import type { Command } from 'commander';
import { LodgeError } from '../../api/errors.js';
import type { AutonomicStatus } from '../../api/autonomic.js';
import { formatSize } from '../../api/sizes.js';
import type { LodgeClient } from '../../client/index.js';
import { parseFormat, printJson, printTable } from '../output.js';

const size = (bytes: number | undefined) => (bytes === undefined ? '-' : `${formatSize(bytes)}B`);

function printMemory(m: NonNullable<AutonomicStatus['memory']>): void {
  const state = m.overcommitted ? 'overcommitted: the loop moves memory from idle guests to short ones' : 'the ceilings of the running guests fit: each holds its ceiling';
  process.stdout.write(`memory: guest budget ${size(m.budgetBytes)}, ${state}${m.dryRun ? ' (dry run: moves are logged, not made)' : ''}\n`);
  if (m.guests.length === 0) return;
  printTable(
    ['NAME', 'KIND', 'FLOOR', 'ALLOCATION', 'CEILING', 'USED', 'HOW'],
    m.guests.map((g) => [g.name, g.kind, size(g.floorBytes), size(g.allocationBytes), size(g.ceilingBytes), size(g.usedBytes), g.how]),
  );
}

function printCpu(c: NonNullable<AutonomicStatus['cpu']>): void {
  process.stdout.write(`cpu: a guest that keeps a CPU busy for ${c.windowSeconds} s drops to a quarter of its weight until quiet for ${c.windowSeconds / 2} s${c.dryRun ? ' (dry run: weights are logged, not set)' : ''}\n`);
  if (c.guests.length === 0) return;
  printTable(
    ['NAME', 'KIND', 'PRIORITY', 'SHARES', 'BASE', 'HOW'],
    c.guests.map((g) => [g.name, g.kind, g.priority, g.shares === undefined ? '-' : String(g.shares), String(g.baseShares), g.how]),
  );
}

function printHealth(h: NonNullable<AutonomicStatus['health']>): void {
  process.stdout.write(`health: each running guest's console and agent asked every ${h.everySeconds} s; silent after two probes in a row without an answer\n`);
  if (h.guests.length === 0) return;
  printTable(
    ['NAME', 'KIND', 'CONSOLE', 'AGENT'],
    h.guests.map((g) => [g.name, g.kind, g.console.how, g.agent.name ? `${g.agent.name}: ${g.agent.how}` : g.agent.how]),
  );
}

function printStatus(s: AutonomicStatus): void {
  process.stdout.write(`loop: ${s.paused ? 'paused (guests that end are seen, memory and CPU are read; restarts, memory moves and CPU weights wait for resume)' : 'running'}${s.nextDue ? `, next action due ${s.nextDue}` : ''}\n`);
  if (s.memory) printMemory(s.memory);
  if (s.cpu) printCpu(s.cpu);
  if (s.health) printHealth(s.health);
  if (s.ksm) process.stdout.write(`ksm (${s.ksm.mode}): ${s.ksm.available ? `${s.ksm.running ? 'ksmd runs' : 'ksmd is stopped'}${s.ksm.savedBytes ? `, saving ${size(s.ksm.savedBytes)}` : ''}: ${s.ksm.how}` : s.ksm.how}\n`);
  if (s.guests.length === 0) return void process.stdout.write('no guest has a restart policy (lodge launch --restart, lodge set --restart)\n');
  printTable(
    ['NAME', 'RESTART', 'STATE', 'RESTARTS', 'NEXT'],
    s.guests.map((g) => [g.name, g.restart, g.state, String(g.restarts), g.gaveUp ? 'gave up' : (g.nextRestartAt ?? '')]),
  );
}

export function register(program: Command, client: () => LodgeClient): void {
  const autonomic = program.command('autonomic').description('the loop that manages guests on its own: restart policies, memory balancing, CPU weights, health reports, KSM');

  autonomic
    .command('status')
    .description("whether the loop runs, each running guest's memory floor, allocation and ceiling, its priority and CPU weight, whether its console and agent answer, the guests with a restart policy, their restarts and the next due")
    .option('--format <format>', 'table or json', 'table')
    .action(async (flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const s = await client().autonomic.status();
      if (format === 'json') return printJson(s);
      printStatus(s);
    });

  autonomic
    .command('log')
    .description("the loop's last actions, newest first, with their reasons")
    .option('-n, --limit <n>', 'how many', '20')
    .option('--format <format>', 'table or json', 'table')
    .action(async (flags: { limit: string; format: string }) => {
      const format = parseFormat(flags.format);
      const limit = Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new LodgeError('BAD_REQUEST', `--limit: "${flags.limit}" is not a whole number from 1 to 1000`);
      const ops = await client().autonomic.log(limit);
      if (format === 'json') return printJson(ops);
      printTable(
        ['TIME', 'ACTION', 'GUEST', 'STATUS', 'REASON'],
        ops.map((o) => [o.createdAt, o.action, o.target, o.status === 'failure' ? `failure: ${o.error?.message ?? ''}` : o.status, o.reason ?? '']),
      );
    });

  autonomic
    .command('pause')
    .description('pause the loop: it takes no action until resumed')
    .action(async () => {
      printStatus(await client().autonomic.pause());
    });

  autonomic
    .command('resume')
    .description('resume the loop: what came due meanwhile is done now')
    .action(async () => {
      printStatus(await client().autonomic.resume());
    });
}
