/**
 * @module A vm guest's cloud-init seed (the NoCloud data source): its user data and a
 * meta-data of its instance id and name, on an ISO 9660 filesystem labelled cidata (NoCloud
 * looks only at vfat and ISO 9660; the isofs module comes in Lodge's initramfs).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../lib/exec.js';

export interface CloudSeed {
  userData: string;
  /** cloud-init runs its once-per-instance steps again when this changes. */
  instanceId: string;
  hostname: string;
}

/** The seed's meta-data: YAML, from values that are names and ids (no quoting needed: they are checked names). */
export function metaData(seed: Pick<CloudSeed, 'instanceId' | 'hostname'>): string {
  return `instance-id: ${seed.instanceId}\nlocal-hostname: ${seed.hostname}\n`;
}

/** Writes the seed's ISO to `file` (replaced). */
export async function makeCloudSeed(file: string, seed: CloudSeed): Promise<void> {
  const dir = await mkdtemp(`${file}.d-`);
  try {
    await writeFile(path.join(dir, 'user-data'), seed.userData);
    await writeFile(path.join(dir, 'meta-data'), metaData(seed));
    await rm(file, { force: true });
    await run(['xorriso', '-as', 'mkisofs', '-quiet', '-volid', 'cidata', '-joliet', '-rational-rock', '-output', file, dir]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
