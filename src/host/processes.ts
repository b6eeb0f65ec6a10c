/**
 * @module Processes on the host, and what makes one unique. A pid alone names a process
 * only until it ends: the kernel hands the number to the next process, and after a reboot
 * every recorded pid names a stranger, if anything. So a process Lodge keeps (a shim, an
 * engine, a dnsmasq) is recorded with the host's boot id and its start time (field 22 of
 * /proc/PID/stat), and checked against both before Lodge trusts or signals it. Records
 * written before identities existed hold the pid alone: they are checked against the time
 * they were written (a record older than the boot, or older than the process now holding
 * its pid, is stale).
 */
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';

/** A process as it can be told apart from any other, on this host, ever. */
export interface ProcessIdentity {
  pid: number;
  /** /proc/sys/kernel/random/boot_id when it was recorded: new at every boot. */
  bootId: string;
  /** Clock ticks after boot when it started (field 22 of /proc/PID/stat). */
  startTime: number;
}

/** The kernel's USER_HZ, the unit of a start time: 100 on every Linux architecture's ABI. */
const ticksPerSecond = 100;
/** How far a start time computed from the boot time may stray from the wall clock (slewing). */
const clockSlackMs = 10_000;

/** Pure: the state (R, S, Z...) and start time from a /proc/PID/stat line, read after the last ')' (the name may hold any byte). */
export function parseStat(stat: string): { state: string; startTime: number } | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); field 22 (starttime) is fields[19]
  const startTime = Number(fields[19]);
  if (!fields[0] || !Number.isSafeInteger(startTime)) return undefined;
  return { state: fields[0], startTime };
}

let cachedBootId: string | undefined;

export function bootId(): string {
  cachedBootId ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return cachedBootId;
}

/** The wall-clock time the host booted, in ms (btime of /proc/stat). */
function bootTimeMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('btime '));
  return Number(line?.split(' ')[1]) * 1000;
}

/** How long ago `pid` started, in ms, or undefined if no such process runs. */
export function processAgeMs(pid: number): number | undefined {
  const identity = readIdentity(pid);
  if (!identity) return undefined;
  const uptimeSeconds = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return Math.max(0, Math.round(uptimeSeconds * 1000 - (identity.startTime / ticksPerSecond) * 1000));
}

/** The identity of `pid` now, or undefined if no such process runs (a zombie has ended: it does not). */
export function readIdentity(pid: number): ProcessIdentity | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const parsed = parseStat(stat);
  if (!parsed || parsed.state === 'Z' || parsed.state === 'X') return undefined;
  return { pid, bootId: bootId(), startTime: parsed.startTime };
}

/** The state of `pid` as /proc shows it (R, S, T for stopped...), or undefined if no such process exists. */
export function processState(pid: number): string | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.state;
  } catch {
    return undefined;
  }
}

/** Whether `pid` runs: a zombie (ended, not yet reaped by its parent) does not. */
export function isAlive(pid: number): boolean {
  return readIdentity(pid) !== undefined;
}

/**
 * Pure: why `current` (what holds the recorded pid now, on the host booted as
 * `hostBootId`) is not the `recorded` process, or undefined when it is.
 */
export function identityMismatch(recorded: ProcessIdentity, hostBootId: string, current: ProcessIdentity | undefined): string | undefined {
  if (recorded.bootId !== hostBootId) return `process ${recorded.pid} was recorded before the host last booted`;
  if (!current) return `process ${recorded.pid} is gone`;
  if (recorded.pid !== current.pid || recorded.startTime !== current.startTime) return `process ${recorded.pid} is gone and its pid now belongs to another process`;
  return undefined;
}

/**
 * Pure: the same question for a record of the pid alone, written at `recordedAtMs` (its
 * file's mtime): what was recorded before the boot is stale, and so is a pid held by a
 * process that started after the record was written.
 */
export function legacyMismatch(pid: number, recordedAtMs: number, bootedAtMs: number, current: ProcessIdentity | undefined): string | undefined {
  if (recordedAtMs < bootedAtMs) return `process ${pid} was recorded before the host last booted`;
  if (!current) return `process ${pid} is gone`;
  const startedAtMs = bootedAtMs + (current.startTime * 1000) / ticksPerSecond;
  if (startedAtMs > recordedAtMs + clockSlackMs) return `process ${pid} is gone and its pid now belongs to a process started after it was recorded`;
  return undefined;
}

/** Pure: an identity as read back from a record, or undefined if `value` is not one. */
export function parseIdentity(value: unknown): ProcessIdentity | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { pid, bootId, startTime } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(pid) || (pid as number) <= 0 || typeof bootId !== 'string' || !Number.isSafeInteger(startTime)) return undefined;
  return { pid: pid as number, bootId, startTime: startTime as number };
}

/**
 * Writes `value` (identities) to `file` whole or not at all. A record that cannot be
 * written is not an error: the pid file alone is checked instead, by its age.
 */
export function writeRecord(file: string, value: object): void {
  try {
    writeFileSync(`${file}.tmp`, `${JSON.stringify(value)}\n`, { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  } catch {
    // read-only or full
  }
}

/** The JSON in `file`, or undefined if it is missing or unreadable. */
export function readRecord(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** A recorded process, checked: its pid when it is still the one recorded, or why it is not. */
export type CheckedProcess = { pid: number; reason?: undefined } | { pid?: undefined; reason: string };

export function checkProcess(recorded: ProcessIdentity): CheckedProcess {
  const reason = identityMismatch(recorded, bootId(), readIdentity(recorded.pid));
  return reason ? { reason } : { pid: recorded.pid };
}

/**
 * The process named by a pid file that has no identity beside it (written by an older
 * Lodge, or by a program that was killed before its identity was recorded).
 */
export function checkPidFile(pidFile: string): CheckedProcess {
  let pid: number;
  let recordedAtMs: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
    recordedAtMs = statSync(pidFile).mtimeMs;
  } catch {
    return { reason: `its pid file ${pidFile} is missing` };
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return { reason: `its pid file ${pidFile} holds no pid` };
  const reason = legacyMismatch(pid, recordedAtMs, bootTimeMs(), readIdentity(pid));
  return reason ? { reason } : { pid };
}
