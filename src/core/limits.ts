/**
 * @module Limits as the API states them (sizes as text) to the numbers drivers apply,
 * refusing values that no guest could run with.
 */
import { LodgeError } from '../api/errors.js';
import type { Limits } from '../api/guests.js';
import { formatSize, parseSize } from '../api/sizes.js';
import type { ResolvedLimits } from '../drivers/driver.js';

const minimumMemory = 8 * 1024 * 1024;
const minimumDisk = 32 * 1024 * 1024;

function size(field: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const bytes = parseSize(text);
  if (bytes === undefined) throw new LodgeError('BAD_REQUEST', `limits.${field}: "${text}" is not a size (use e.g. 256M or 1G)`);
  return bytes;
}

export function resolveLimits(limits: Limits, hostMemoryBytes: number): ResolvedLimits {
  const memoryBytes = size('memory', limits.memory);
  const swapBytes = size('swap', limits.swap);
  if (memoryBytes !== undefined && memoryBytes < minimumMemory) {
    throw new LodgeError('BAD_REQUEST', `limits.memory: ${limits.memory} is below the ${formatSize(minimumMemory)} a guest needs`);
  }
  if (memoryBytes !== undefined && memoryBytes > hostMemoryBytes) {
    throw new LodgeError('BAD_REQUEST', `limits.memory: ${limits.memory} is more than this host has (${formatSize(hostMemoryBytes)})`);
  }
  size('memoryFloor', limits.memoryFloor);
  if (swapBytes !== undefined && memoryBytes === undefined) throw new LodgeError('BAD_REQUEST', 'limits.swap: needs limits.memory as well');
  const diskBytes = size('disk', limits.disk);
  if (diskBytes !== undefined && diskBytes < minimumDisk) {
    throw new LodgeError('BAD_REQUEST', `limits.disk: ${limits.disk} is below the ${formatSize(minimumDisk)} a guest's filesystem needs`);
  }
  return {
    ...(limits.cpu !== undefined ? { cpu: limits.cpu } : {}),
    ...(memoryBytes !== undefined ? { memoryBytes } : {}),
    ...(swapBytes !== undefined ? { swapBytes } : {}),
    ...(limits.processes !== undefined ? { processes: limits.processes } : {}),
    ...(diskBytes !== undefined ? { diskBytes } : {}),
  };
}

/** The least and the most memory the autonomic loop moves a guest's allocation between. */
export interface MemoryBounds {
  floorBytes: number;
  ceilingBytes: number;
}

/**
 * A guest's memory floor and ceiling: its limit (or, for a kind that gives a guest a fixed
 * amount, its default) is the ceiling; its floor is limits.memoryFloor, or a quarter of the
 * ceiling and never below what its kind's kernel needs. None for a guest without a ceiling
 * (a container without a memory limit): the loop has nothing to balance it within.
 */
export function memoryBounds(limits: Limits, kindMemory: { minimumBytes: number; defaultBytes: number } | undefined): MemoryBounds | undefined {
  const ceilingBytes = size('memory', limits.memory) ?? kindMemory?.defaultBytes;
  const asked = size('memoryFloor', limits.memoryFloor);
  if (ceilingBytes === undefined) {
    if (asked !== undefined) throw new LodgeError('BAD_REQUEST', `limits.memoryFloor: needs limits.memory as well (the ceiling the floor is under)`);
    return undefined;
  }
  if (asked !== undefined && asked > ceilingBytes) {
    throw new LodgeError('BAD_REQUEST', `limits.memoryFloor: ${limits.memoryFloor} is above the memory ceiling ${limits.memory ?? `${formatSize(ceilingBytes)} (the default)`}; it must be at most limits.memory`);
  }
  if (asked !== undefined && kindMemory && asked < kindMemory.minimumBytes) {
    throw new LodgeError('BAD_REQUEST', `limits.memoryFloor: ${limits.memoryFloor} is below the ${formatSize(kindMemory.minimumBytes)} this guest's kernel needs`);
  }
  const quarter = Math.floor(ceilingBytes / 4 / 1048576) * 1048576;
  const floorBytes = asked ?? Math.min(ceilingBytes, Math.max(quarter, kindMemory?.minimumBytes ?? minimumMemory));
  return { floorBytes, ceilingBytes };
}
