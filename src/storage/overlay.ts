/**
 * @module A guest's root filesystem as an overlay: the image's read-only rootfs below,
 * the guest's own upper directory above. Guests of one image share the lower layer on
 * disk and in the page cache. The overlay is mounted only where the guest runs, in its
 * own mount namespace (lodge-shim --mount-overlay), never in the host's.
 */
import { existsSync } from 'node:fs';
import { chown, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { makeExt4File, mountLoop } from '../host/disks.js';
import { isMounted, overlayOptions, unmount } from '../host/mounts.js';

export interface OverlayRoot {
  upper: string;
  work: string;
  /** Where the overlay is mounted. */
  rootfs: string;
}

/**
 * Where a guest's writable layer lives: in its root volume, or for a guest made before
 * storage pools, in its directory, or when its disk size was limited, on its own ext4
 * file of that size in it.
 */
const diskFile = (dir: string) => path.join(dir, 'disk.img');
const diskMount = (dir: string) => path.join(dir, 'disk');

/** The upper directory's name in a root volume. */
export const upperDir = 'upper';

export function overlayRoot(dir: string, volume?: string, sized = existsSync(diskFile(dir))): OverlayRoot {
  const base = volume ?? (sized ? diskMount(dir) : dir);
  return { upper: path.join(base, upperDir), work: path.join(base, 'work'), rootfs: path.join(dir, 'rootfs') };
}

/**
 * Makes the directories (the upper one owned by the guest's root user), for a guest made
 * before pools mounting its disk if sized; returns the overlay's mount options.
 */
export async function prepareOverlayRoot(dir: string, lower: string, owner: number, volume: string | undefined, legacyDiskBytes?: number): Promise<OverlayRoot & { options: string }> {
  const sized = volume === undefined && legacyDiskBytes !== undefined;
  if (sized) {
    await mkdir(diskMount(dir), { recursive: true });
    if (!existsSync(diskFile(dir))) await makeExt4File(diskFile(dir), legacyDiskBytes);
    if (!(await isMounted(diskMount(dir)))) await mountLoop(diskFile(dir), diskMount(dir));
  }
  const root = overlayRoot(dir, volume, sized);
  for (const d of [root.upper, root.work, root.rootfs]) await mkdir(d, { recursive: true });
  await chown(root.upper, owner, owner);
  return { ...root, options: overlayOptions([lower], root.upper, root.work) };
}

/** Removes what the guest's directory holds of its root (its volume is the storage layer's to remove). */
export async function removeOverlayRoot(dir: string): Promise<void> {
  const root = overlayRoot(dir);
  // a root that an older lodged mounted on the host goes too
  await unmount(root.rootfs);
  await unmount(diskMount(dir));
  for (const p of [root.upper, root.work, root.rootfs, diskMount(dir), diskFile(dir)]) await rm(p, { recursive: true, force: true });
}
