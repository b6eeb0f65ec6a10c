/**
 * @module Reads one day of the PlanetLab traces of Beloglazov & Buyya (see
 * ../shared/data/planetlab/README.md): one VM per file, 288 samples of percent CPU every
 * 300 s. Files are taken in name order (CloudSim takes the file system's order, which is
 * not reproducible) and VM types by consecutive quarters, as CloudSim does (first quarter
 * the largest type). Names may contain spaces: they are never split.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { vmTypes, type VmType } from '../planner/model.js';

export const samplesPerDay = 288;
export const sampleSeconds = 300;

export interface TraceVm {
  readonly name: string;
  readonly type: VmType;
  /** Requested share of the VM's MIPS at each sample; a 289th point repeats the 288th. */
  readonly util: Float64Array;
}

/** The trace file's 288 percentages as fractions, with the last repeated (CloudSim's 289th point). */
export function parseTrace(text: string, file: string): Float64Array {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (lines.length !== samplesPerDay) throw new Error(`${file}: ${lines.length} lines, expected ${samplesPerDay}`);
  const util = new Float64Array(samplesPerDay + 1);
  lines.forEach((line, i) => {
    const v = Number(line);
    if (!/^\d+$/.test(line) || v > 100) throw new Error(`${file}: line ${i + 1} is "${line}", expected a percentage 0-100`);
    util[i] = v / 100;
  });
  util[samplesPerDay] = util[samplesPerDay - 1]!;
  return util;
}

/** The days in `dir` (folders named YYYYMMDD), in order. */
export function listDays(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^\d{8}$/.test(e.name))
    .map((e) => e.name)
    .sort();
}

export function readDay(dir: string, day: string): TraceVm[] {
  const folder = path.join(dir, day);
  const names = readdirSync(folder).sort();
  const perType = Math.ceil(names.length / vmTypes.length);
  return names.map((name, i) => ({
    name,
    type: vmTypes[Math.floor(i / perType)]!,
    util: parseTrace(readFileSync(path.join(folder, name), 'latin1'), path.join(folder, name)),
  }));
}
