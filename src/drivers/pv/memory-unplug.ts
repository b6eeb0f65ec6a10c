/**
 * @module A running pv guest's memory moved under its ceiling, UML's way: the mconsole's
 * `config mem=-N` has the guest's kernel take N of its free pages and drop them on the host
 * (madvise MADV_REMOVE on its memory file), `config mem=+N` gives back pages it took, never
 * past what the guest booted with. UML does not say how much it holds unplugged, so lodged
 * keeps that beside the engine (in the shim's directory, root's), for the engine it was asked
 * of: a new start holds all its memory again.
 */
import { readFileSync } from 'node:fs';
import { readRecord, writeRecord } from '../../host/processes.js';

const kib = 1024;
const mib = 1024 * 1024;

/** MemAvailable of a /proc/meminfo text, in bytes; undefined if it has none. */
export function availableBytes(meminfo: string): number | undefined {
  const kb = /^MemAvailable:\s+(\d+) kB$/m.exec(meminfo)?.[1];
  return kb === undefined ? undefined : Number(kb) * kib;
}

/** The memory UML `pid` booted with (its mem= argument), in bytes; undefined if it is gone or has none. */
export function bootedMemoryBytes(pid: number): number | undefined {
  let args: string[];
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
  const mem = args.map((a) => /^mem=(\d+)M$/.exec(a)?.[1]).find((m) => m !== undefined);
  return mem === undefined ? undefined : Number(mem) * mib;
}

/** What engine `pid` holds unplugged, as lodged recorded it in `file`: none for another engine. */
export function readUnplugged(file: string, pid: number): number {
  const record = readRecord(file) as { pid?: unknown; bytes?: unknown } | undefined;
  return record?.pid === pid && Number.isSafeInteger(record.bytes) && (record.bytes as number) >= 0 ? (record.bytes as number) : 0;
}

export function writeUnplugged(file: string, pid: number, bytes: number): void {
  writeRecord(file, { pid, bytes });
}

/** The mconsole `config mem` change from `unplugged` to `target` bytes unplugged (whole MiB), or undefined for none. */
export function memConfigChange(unplugged: number, target: number): string | undefined {
  const diff = Math.round((target - unplugged) / mib);
  if (diff === 0) return undefined;
  return diff > 0 ? `-${diff}M` : `+${-diff}M`;
}
