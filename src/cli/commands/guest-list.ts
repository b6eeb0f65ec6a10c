/**
 * @module lodge list, lodge info NAME
 */
import type { Command } from 'commander';
import type { Guest } from '../../api/guests.js';
import { formatSize } from '../../api/sizes.js';
import type { LodgeClient } from '../../client/index.js';
import { parseFormat, printFields, printJson, printTable } from '../output.js';

const limitsText = (g: Guest) =>
  [g.limits.cpu && `cpu ${g.limits.cpu}`, g.limits.memory && `mem ${g.limits.memory}`, g.limits.memoryFloor && `floor ${g.limits.memoryFloor}`, g.limits.processes && `procs ${g.limits.processes}`, g.limits.disk && `disk ${g.limits.disk}`].filter(Boolean).join(', ');

export function register(program: Command, client: () => LodgeClient): void {
  program
    .command('list')
    .alias('ls')
    .description('list guests')
    .option('--format <format>', 'table or json', 'table')
    .addHelpText('after', '\nExamples:\n  lodge list\n  lodge list --format json')
    .action(async (flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const guests = await client().guests.list();
      if (format === 'json') return printJson(guests);
      printTable(['NAME', 'KIND', 'STATE', 'IMAGE', 'LIMITS'], guests.map((g) => [g.name, g.kind, g.state, g.image, limitsText(g)]));
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
        ['Autonomic', g.autonomic === 'off' ? 'off (its memory stays at its limit)' : 'on (lodge autonomic status shows its memory allocation)'],
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
