/**
 * @module lodge operation list|show|wait|cancel, lodge monitor
 */
import type { Command } from 'commander';
import type { LodgeClient } from '../../client/index.js';
import { parseFormat, printJson, printTable } from '../output.js';
import { waitFor } from '../progress.js';

export function register(program: Command, client: () => LodgeClient): void {
  const operation = program.command('operation').description('long actions: launches, builds, deletions');

  operation
    .command('list')
    .alias('ls')
    .description('list recent operations, newest first')
    .option('--format <format>', 'table or json', 'table')
    .action(async (flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const ops = await client().operations.list();
      if (format === 'json') return printJson(ops);
      printTable(
        ['ID', 'ACTION', 'TARGET', 'STATUS', 'STEP'],
        ops.map((o) => [o.id, o.action, o.target, o.status === 'running' ? `running ${o.progress}%` : o.status, o.error?.message ?? o.result ?? o.step]),
      );
    });

  operation
    .command('show')
    .description('show one operation, and where its time went: its steps, and each program it ran ($ ...)')
    .argument('<id>')
    .option('--format <format>', 'table or json', 'table')
    .action(async (id: string, flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const op = await client().operations.get(id);
      if (format === 'json') return printJson(op);
      process.stdout.write(`${op.action} of ${op.target}: ${op.status === 'running' ? `running ${op.progress}%` : op.status}, at step: ${op.step}\n`);
      if (op.error) process.stdout.write(`error: ${op.error.message}\n`);
      if (op.result) process.stdout.write(`result: ${op.result}\n`);
      if (op.timings?.length) printTable(['STEP', 'MS'], op.timings.map((t) => [t.step, t.ms.toFixed(1)]));
    });

  operation
    .command('wait')
    .description('wait for an operation to end; fails if it failed')
    .argument('<id>')
    .action(async (id: string) => {
      const c = client();
      const op = await waitFor(c, c.operations.get(id), `Waiting for ${id.slice(0, 8)}`);
      process.stderr.write(`${op.action} of ${op.target}: ${op.status}${op.result ? ` (${op.result})` : ''}\n`);
    });

  operation
    .command('cancel')
    .description('cancel a running launch or start: it stops at its next step and undoes what it made')
    .argument('<id>')
    .action(async (id: string) => {
      const c = client();
      const op = await c.operations.cancel(id);
      const ended = await c.operations.wait(op.id);
      process.stderr.write(`${ended.action} of ${ended.target}: ${ended.error?.code === 'CANCELLED' ? 'cancelled' : ended.status}\n`);
    });

  program
    .command('monitor')
    .description('print events as they happen, one JSON object per line, until interrupted')
    .addHelpText('after', "\nExamples:\n  lodge monitor\n  lodge monitor | jq -c 'select(.type == \"lifecycle\")'")
    .action(async () => {
      // a reader that went away (| head -1) ends the watch, as it ends any filter
      process.stdout.on('error', (e: NodeJS.ErrnoException) => process.exit(e.code === 'EPIPE' ? 0 : 1));
      await client().operations.events((e) => process.stdout.write(`${JSON.stringify(e)}\n`));
      await new Promise(() => {});
    });

  program
    .command('host')
    .description('show this host: version, cgroups, its HTTPS listener, the engine and features of each guest kind, and the default storage pool')
    .option('--format <format>', 'table or json', 'table')
    .action(async (flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const info = await client().host();
      if (format === 'json') return printJson(info);
      process.stdout.write(`lodged ${info.version}, API ${info.apiVersion}, cgroups ${info.cgroups}\n`);
      const l = info.listen;
      if (l) process.stdout.write(`HTTPS: https://${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}, certificate ${l.certificate}, SHA-256 fingerprint\n  ${l.fingerprint}\n`);
      printTable(['KIND', 'AVAILABLE', 'ENGINE'], info.drivers.map((d) => [d.kind, d.available ? 'yes' : 'no', d.engine]));
      process.stdout.write('\n');
      printTable(['KIND', 'IMAGES', 'FEATURES'], info.drivers.map((d) => [d.kind, d.imageFormats.join(','), d.features.join(', ')]));
      process.stdout.write('\nWhat each kind cannot do, and why:\n');
      for (const d of info.drivers) for (const [feature, why] of Object.entries(d.lacks)) process.stdout.write(`  ${d.kind} ${feature}: ${why}\n`);
      if (info.storage) process.stdout.write(`\nStorage: guests' roots go to the pool ${info.storage.defaultPool} unless launched with --pool: ${info.storage.reason}\n`);
    });
}
