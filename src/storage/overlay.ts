/**
 * @module A guest's root filesystem as an overlay: the image's read-only rootfs below,
 * the guest's own upper directory above. Guests of one image share the lower layer on
 * disk and in the page cache.
 */
import { existsSync } from 'node:fs';
import { chown, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { makeExt4File, mountLoop } from '../host/disks.js';
import { isMounted, mountOverlay, unmount } from '../host/mounts.js';

export interface OverlayRoot {
  upper: string;
  work: string;
  rootfs: string;
}

/**
 * Where a guest's writable layer lives: in its directory, or, when its disk size is
 * limited, on its own ext4 file of that size (so the limit is the filesystem's).
 */
const diskFile = (dir: string) => path.join(dir, 'disk.img');
const diskMount = (dir: string) => path.join(dir, 'disk');

export function overlayRoot(dir: string, sized = existsSync(diskFile(dir))): OverlayRoot {
  const base = sized ? diskMount(dir) : dir;
  return { upper: path.join(base, 'upper'), work: path.join(base, 'work'), rootfs: path.join(dir, 'rootfs') };
}

/** Makes the directories, owned by the guest's root user, and mounts the overlay (and its disk, if sized). */
export async function mountOverlayRoot(dir: string, lower: string, owner: number, diskBytes?: number): Promise<OverlayRoot> {
  if (diskBytes !== undefined) {
    await mkdir(diskMount(dir), { recursive: true });
    if (!existsSync(diskFile(dir))) await makeExt4File(diskFile(dir), diskBytes);
    if (!(await isMounted(diskMount(dir)))) await mountLoop(diskFile(dir), diskMount(dir));
  }
  const root = overlayRoot(dir, diskBytes !== undefined);
  for (const d of [root.upper, root.work, root.rootfs]) await mkdir(d, { recursive: true });
  await chown(root.upper, owner, owner);
  if (!(await isMounted(root.rootfs))) await mountOverlay([lower], root.upper, root.work, root.rootfs);
  return root;
}

export async function removeOverlayRoot(dir: string): Promise<void> {
  const root = overlayRoot(dir);
  await unmount(root.rootfs);
  await unmount(diskMount(dir));
  for (const p of [root.upper, root.work, root.rootfs, diskMount(dir), diskFile(dir)]) await rm(p, { recursive: true, force: true });
}
