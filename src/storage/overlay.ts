/**
 * @module A guest's root filesystem as an overlay: the image's read-only rootfs below,
 * the guest's own upper directory above. Guests of one image share the lower layer on
 * disk and in the page cache.
 */
import { chown, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { isMounted, mountOverlay, unmount } from '../host/mounts.js';

export interface OverlayRoot {
  upper: string;
  work: string;
  rootfs: string;
}

export function overlayRoot(dir: string): OverlayRoot {
  return { upper: path.join(dir, 'upper'), work: path.join(dir, 'work'), rootfs: path.join(dir, 'rootfs') };
}

/** Makes the directories, owned by the guest's root user, and mounts the overlay. */
export async function mountOverlayRoot(dir: string, lower: string, owner: number): Promise<OverlayRoot> {
  const root = overlayRoot(dir);
  for (const d of [root.upper, root.work, root.rootfs]) await mkdir(d, { recursive: true });
  await chown(root.upper, owner, owner);
  if (!(await isMounted(root.rootfs))) await mountOverlay([lower], root.upper, root.work, root.rootfs);
  return root;
}

export async function removeOverlayRoot(dir: string): Promise<void> {
  const root = overlayRoot(dir);
  await unmount(root.rootfs);
  await rm(root.upper, { recursive: true, force: true });
  await rm(root.work, { recursive: true, force: true });
  await rm(root.rootfs, { recursive: true, force: true });
}
