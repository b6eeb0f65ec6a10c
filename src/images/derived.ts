/**
 * @module The bases an image makes from its content for guests: a copy of its rootfs with
 * the owners moved up by an id map (the lower layer of containers), its rootfs as ext4 with
 * a kernel's modules added (the disk pv guests write their COW files over) and as a qcow2
 * disk (the backing file of vm guests' overlays).
 *
 * A base lives in its image's directory under a name made from what it is made from: the
 * version of the image's content (a new id at each build or import) and the derivation. A
 * rebuilt image therefore gets new bases, and a base never changes under the guests that
 * name it (a pv COW header, a qcow2 overlay). A base is made under a temporary name, synced,
 * made read-only where it is a file (the engines open a backing file read-only) and renamed
 * into place: a name that exists is a whole base, and what a crash left under a temporary
 * name is removed at the next start (sweepTemporaries).
 *
 * Which bases an image has and how long they stay is ImageService's (core/images.ts): it
 * makes each one once, records it with the image, counts it in the image's size and removes
 * it when no guest made from its version is left.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../lib/exec.js';
import { makeExt4, makeQcow2 } from './ext4-base.js';
import { makeShifted } from './shift.js';

/** How a base is made from an image's rootfs. */
export type Derivation =
  /** A copy with every owner moved up by `offset` (0: a plain copy, for privileged containers). */
  | { as: 'shifted'; offset: number }
  /**
   * ext4, with host directories copied in (`additions`: path in the guest -> host directory).
   * `key` (hex) names what the additions are made from: another key, another base.
   */
  | { as: 'ext4'; key: string; additions: Record<string, string> }
  /** ext4 in a qcow2 disk. */
  | { as: 'qcow2' };

/**
 * The version of images made before versions had ids: their bases keep the names they had
 * then (rootfs.shifted-OFFSET, rootfs.uml-KEY.ext4, rootfs.qcow2), which their guests name.
 */
export const legacyContent = 'legacy';

/** What a base's name says beside the version: which derivation, with what. */
function derivationKey(d: Derivation): string {
  switch (d.as) {
    case 'shifted':
      return `shifted ${d.offset}`;
    case 'ext4':
      return `ext4 ${d.key}`;
    case 'qcow2':
      return 'qcow2';
  }
}

/** The name of a base in its image's directory. */
export function baseFile(content: string, d: Derivation): string {
  // both go into a file name as they are (a legacy one)
  const valid = d.as === 'shifted' ? Number.isSafeInteger(d.offset) && d.offset >= 0 : d.as === 'ext4' ? /^[0-9a-f]{1,64}$/.test(d.key) : true;
  if (!valid) throw new Error(`not a derivation of an image: ${JSON.stringify(d)}`);
  if (content === legacyContent) {
    switch (d.as) {
      case 'shifted':
        return `rootfs.shifted-${d.offset}`;
      case 'ext4':
        return `rootfs.uml-${d.key}.ext4`;
      case 'qcow2':
        return 'rootfs.qcow2';
    }
  }
  const id = createHash('sha256').update(`${content}\n${derivationKey(d)}`).digest('hex').slice(0, 12);
  switch (d.as) {
    case 'shifted':
      return `rootfs.shifted-${id}`;
    case 'ext4':
      // "uml": the disk pv guests boot, with the modules of their kernel
      return `rootfs.uml-${id}.ext4`;
    case 'qcow2':
      return `rootfs.vm-${id}.qcow2`;
  }
}

/** The names a base of each derivation has had: legacy ones (and, for ext4, the one before keys), and versioned ones. */
const basePatterns: Record<Derivation['as'], RegExp> = {
  shifted: /^rootfs\.shifted-([0-9]+|[0-9a-f]{12})$/,
  ext4: /^rootfs(\.uml-[0-9a-f]{12})?\.ext4$/,
  qcow2: /^rootfs(\.vm-[0-9a-f]{12})?\.qcow2$/,
};

/** Whether a name in an image's directory is one a base of that derivation (or, without `as`, of any) has. */
export function isBaseFile(name: string, as?: Derivation['as']): boolean {
  return as ? basePatterns[as].test(name) : Object.values(basePatterns).some((p) => p.test(name));
}

/** A base's name while it is being made. */
const making = (target: string) => `${target}+making-${process.pid}`;

/** What a crash left while making a base: its temporary name, and those of earlier lodgeds (NAME.tmp-PID and the like). */
const temporary = /\+making-\d+|\.(tmp|staging|vm-raw)-\d+$/;

/**
 * Makes the base `target` from `source` (the image's rootfs) by `d` unless it is there, and
 * returns the bytes it takes on the host. The caller makes sure no one else makes it at once.
 */
export async function makeBase(source: string, d: Derivation, target: string): Promise<number> {
  if (existsSync(target)) return bytesOnHost(target);
  const tmp = making(target);
  await rm(tmp, { recursive: true, force: true });
  try {
    switch (d.as) {
      case 'shifted':
        await makeShifted(source, d.offset, tmp);
        break;
      case 'ext4':
        await makeExt4(source, d.additions, tmp);
        break;
      case 'qcow2':
        await makeQcow2(source, tmp);
        break;
    }
    // engines open it read-only (UML a COW file's backing file, QEMU an overlay's): root's, and no one's to write.
    // A tree keeps the modes its guests see; nothing writes an overlay's lower layer.
    if (d.as !== 'shifted') await chmod(tmp, 0o444);
    // its bytes are on disk before its name is: after a power cut a name is a whole base
    await run(['sync', '-f', tmp]);
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return bytesOnHost(target);
}

/** The bytes a file or tree takes on the host: its allocated blocks (an ext4 base is a sparse file). */
export async function bytesOnHost(file: string): Promise<number> {
  return Number((await run(['du', '-s', '-B1', file])).stdout.split('\t')[0]);
}

/** Removes what a crash left in an image's directory while making a base; says what it removed, and what it could not yet. */
export async function sweepTemporaries(dir: string): Promise<string[]> {
  const said: string[] = [];
  for (const name of (await readdir(dir).catch(() => [])).filter((n) => temporary.test(n))) {
    try {
      await rm(path.join(dir, name), { recursive: true, force: true });
      said.push(`removed ${name}, a base a crash left half-made`);
    } catch (e) {
      // a program of the lodged that was killed (a cp, a mkfs) may still be writing it: the next start tries again
      said.push(`cannot remove ${name}, a base a crash left half-made, yet (${(e as Error).message}); the next start tries again`);
    }
  }
  return said;
}
