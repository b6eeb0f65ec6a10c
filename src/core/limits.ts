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
