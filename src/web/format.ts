/**
 * @module How the console writes figures: bytes in binary units, rates per second, CPUs,
 * and times as a person reads them. One place, so every page says the same thing the same way.
 */
import type { GuestNow } from '../api/history.js';

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${n.toFixed(i === 0 || n >= 100 ? 0 : 1)} ${units[i]}`;
}

export const rate = (n: number | null | undefined) => (n === null || n === undefined ? '–' : `${bytes(n)}/s`);

/** CPUs in use: a share of one CPU as a percentage (to a hundredth where it is that small), else a count. */
export function cpus(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  if (n >= 0.1) return `${n.toFixed(2)} CPU`;
  return n === 0 ? '0%' : `${(n * 100).toFixed(n < 0.01 ? 2 : 1)}%`;
}

export const percent = (part: number, whole: number) => (whole > 0 ? `${Math.round((100 * part) / whole)}%` : '–');

/** An ISO time as the reader's local clock says it, with the date only when it is not today. */
export function when(iso: string): string {
  const d = new Date(iso);
  return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
}

/** A running guest's latest figures, as the dashboard's "most used" and the guest list's columns show them. */
export const guestFigures: Array<{ id: keyof Omit<GuestNow, 'name' | 'kind'>; title: string; format: (n: number | null) => string }> = [
  { id: 'cpu', title: 'CPU', format: cpus },
  { id: 'memoryBytes', title: 'Memory', format: bytes },
  { id: 'diskBytesPerSecond', title: 'Disk I/O', format: rate },
  { id: 'networkBytesPerSecond', title: 'Network', format: rate },
];
