/**
 * @module The wire types of the history lodged keeps in memory: the host's and each guest's
 * figures over the last hour (by default one sample every 10 s), as columns a graph takes as
 * they come (uPlot's shape: times, then one array per series, null where there is a gap).
 */
import { Type, type Static } from '@sinclair/typebox';
import { GuestKind } from './common.js';

const Column = (description: string) => Type.Array(Type.Union([Type.Number(), Type.Null()]), { description: `${description}; null where nothing was read (the guest was not running, or had restarted)` });
const Times = Type.Array(Type.Number(), { description: 'when each sample was taken, in seconds since the epoch, oldest first' });
const intervalSeconds = Type.Number({ description: 'seconds between two samples' });

export const GuestHistory = Type.Object({
  name: Type.String(),
  intervalSeconds,
  time: Times,
  cpu: Column('CPUs in use (CPU seconds per second of its cgroup)'),
  memoryBytes: Column('memory charged to its cgroup'),
  diskReadBytesPerSecond: Column('bytes read from storage per second'),
  diskWriteBytesPerSecond: Column('bytes written to storage per second'),
  networkReceiveBytesPerSecond: Column('bytes received per second, all NICs'),
  networkTransmitBytesPerSecond: Column('bytes sent per second, all NICs'),
});
export type GuestHistory = Static<typeof GuestHistory>;

const now = (description: string) => Type.Union([Type.Number(), Type.Null()], { description });

/** A running guest's latest figures, for the dashboard's "most used" lists. */
export const GuestNow = Type.Object({
  name: Type.String(),
  kind: GuestKind,
  cpu: now('CPUs in use over the last interval'),
  memoryBytes: now('memory charged to its cgroup'),
  diskBytesPerSecond: now('bytes read and written per second'),
  networkBytesPerSecond: now('bytes received and sent per second'),
});
export type GuestNow = Static<typeof GuestNow>;

export const HostHistory = Type.Object({
  intervalSeconds,
  cpus: Type.Integer({ description: 'CPUs the host has' }),
  memoryTotalBytes: Type.Number(),
  diskTotalBytes: Type.Number({ description: 'the size of all storage pools' }),
  time: Times,
  cpu: Column('CPUs busy (all modes but idle and iowait)'),
  memoryBytes: Column('memory in use (MemTotal less MemAvailable)'),
  diskBytes: Column('bytes the storage pools hold'),
  load1: Column('load average over 1 minute'),
  guests: Type.Array(GuestNow, { description: 'each guest that was running at the last sample, with its figures then' }),
});
export type HostHistory = Static<typeof HostHistory>;
