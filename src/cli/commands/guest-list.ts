/**
 * @module lodge list [FILTER...] [-c COLUMNS], lodge info NAME
 */
import type { Command } from 'commander';
import { formatSize } from '../../api/sizes.js';
import type { LodgeClient } from '../../client/index.js';
import { defaultGuestColumns, guestColumnsHelp, limitsText, parseGuestColumns } from '../guest-columns.js';
import { parseGuestFilters } from '../guest-filters.js';
import { parseFormat, printFields, printJson, printTable } from '../output.js';

export function register(program: Command, client: () => LodgeClient): void {
  program
    .command('list')
    .alias('ls')
    .description('list guests: those that match every filter given, with the columns chosen')
    .argument('[filter...]', 'KEY=VALUE (name, kind, state, image, network), or a name: a glob with * or ?, else a part of the name')
    .option('-c, --columns <columns>', 'letters run together (nsi4) or names with commas (name,state,ipv4)', defaultGuestColumns)
    .option('--format <format>', 'table or json (json has every field, each guest\'s NICs and addresses too)', 'table')
    .addHelpText(
      'after',
      `\nColumns:\n${guestColumnsHelp}\n\nAddresses are IPv4: Lodge's networks give none of IPv6.\n\nExamples:\n  lodge list\n  lodge list web                        # names with web in them\n  lodge list 'web*' kind=ct state=running\n  lodge list network=default -c n4\n  lodge list -c name,state,ipv4,networks\n  lodge list --format json`,
    )
    .action(async (filters: string[], flags: { format: string; columns: string }) => {
      const format = parseFormat(flags.format);
      const query = parseGuestFilters(filters);
      const columns = parseGuestColumns(flags.columns);
      const guests = await client().guests.list(query);
      if (format === 'json') return printJson(guests);
      printTable(columns.map((c) => c.header), guests.map((g) => columns.map((c) => c.cell(g))));
    });

  program
    .command('info')
    .description('show a guest: state, engine, limits and usage')
    .argument('<name>')
    .option('--format <format>', 'table or json', 'table')
    .action(async (name: string, flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const g = await client().guests.get(name);
      if (format === 'json') return printJson(g);
      printFields([
        ['Name', g.name],
        ['Kind', g.kind],
        ['State', g.stateReason ? `${g.state} (${g.stateReason})` : g.state],
        ['Image', g.image],
        ['Privileged', g.kind !== 'ct' ? undefined : g.options.privileged ? 'yes' : 'no (user namespace)'],
        ['Engine', g.engine],
        ['Accelerator', g.machine && `${g.machine.accel} (${g.machine.accelReason}), -cpu ${g.machine.cpuModel}`],
        ['Devices', g.machine && `${g.machine.profile} profile, ${g.machine.boot === 'kernel' ? 'direct kernel boot' : 'firmware boot (SeaBIOS)'}`],
        ['Screen', g.machine?.vncSocket && `VNC on unix socket ${g.machine.vncSocket}`],
        ['PID', g.pid],
        ['NICs', g.nics?.map((n) => `${n.name} ${n.address} on ${n.network} (${n.mac}, host ${n.hostDevice})`).join('\n             ')],
        ['Limits', limitsText(g) || 'none'],
        ['Restart', g.restart],
        ['Autonomic', g.autonomic === 'off' ? 'off (its memory stays at its limit, its CPU weight at its priority\'s)' : 'on (lodge autonomic status shows its memory allocation and CPU weight)'],
        ['Priority', g.priority],
        ['Autostart', g.autostart ? `on (order ${g.autostartOrder}): lodged starts it again at its start if it had ended without being stopped` : 'off'],
        ['Volumes', g.volumes?.map((v) => `${v.name}${v.path ? ` at ${v.path}` : ''}${v.device ? ` as ${v.device}` : ''}`).join(', ')],
        ['Root', g.root && `${formatSize(g.root.sizeBytes)} in storage pool ${g.root.pool}${g.root.usedBytes !== undefined ? `, ${formatSize(g.root.usedBytes)} used` : ''}`],
        ['Memory used', g.usage?.memoryBytes !== undefined ? formatSize(g.usage.memoryBytes) : undefined],
        ['Processes', g.usage?.processes],
        ['CPU time', g.usage?.cpuSeconds !== undefined ? `${g.usage.cpuSeconds.toFixed(2)}s` : undefined],
        ['vCPU time', g.machine?.stats ? `${g.machine.stats.vcpuSeconds.toFixed(2)}s` : g.machine?.statsUnavailable && `unavailable: ${g.machine.statsUnavailable}`],
        ['Balloon', g.machine?.stats?.balloonBytes !== undefined ? formatSize(g.machine.stats.balloonBytes) : undefined],
        ['Disk I/O', g.machine?.stats && `${formatSize(g.machine.stats.diskReadBytes)} read, ${formatSize(g.machine.stats.diskWrittenBytes)} written`],
        ['Created', g.createdAt],
      ]);
    });
}
