/**
 * @module What a vm guest's balloon tells of its memory: QEMU's virtio-balloon device, asked to
 * poll the guest's own counters (guest-stats-polling-interval), answers them in guest-stats.
 * The answer comes from the guest's kernel through QEMU, hostile input: only finite, non-negative
 * numbers are taken, and a guest that has not reported yet has no reading.
 */

/** The balloon's QOM path: its device is given this id on the command line (argv.ts). */
export const balloonPath = '/machine/peripheral/balloon0';
/** How often the guest reports its counters (seconds): as often as the loop reads them. */
export const statsPollSeconds = 1;

/**
 * What the guest could still use (its MemAvailable; free and caches on a kernel without it), in
 * bytes; undefined before its first report. What it uses is then what its balloon leaves it less
 * this: its kernel's own reserve, which its MemTotal leaves out, counts as used.
 */
export function balloonAvailableBytes(answer: unknown): number | undefined {
  if (typeof answer !== 'object' || answer === null) return undefined;
  const { stats, 'last-update': lastUpdate } = answer as { stats?: Record<string, unknown>; 'last-update'?: unknown };
  if (!stats || lastUpdate === 0) return undefined;
  const n = (key: string) => {
    const v = stats[key];
    // QEMU says -1 for a counter the guest did not send
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  };
  const available = n('stat-available-memory');
  if (available !== undefined) return available;
  const free = n('stat-free-memory');
  return free === undefined ? undefined : free + (n('stat-disk-caches') ?? 0);
}
