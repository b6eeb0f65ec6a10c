/**
 * @module An image launch needs, built first when it is one of Lodge's own and is not
 * built yet: `lodge launch debian/12 db1` on a fresh host builds debian/12 (with its
 * progress), as `incus launch` fetches. Any other missing image is left to lodged's error.
 */
import { LodgeError } from '../api/errors.js';
import { isBuildableImage } from '../api/image-names.js';
import type { LodgeClient } from '../client/index.js';
import { waitFor } from './progress.js';

export async function buildIfMissing(client: LodgeClient, image: string): Promise<void> {
  if (!isBuildableImage(image)) return;
  const missing = await client.images.get(image).then(
    () => false,
    (e: unknown) => {
      if (e instanceof LodgeError && e.code === 'NOT_FOUND') return true;
      throw e;
    },
  );
  if (!missing) return;
  process.stderr.write(`Image ${image} is not built here: building it first (lodge image build ${image})\n`);
  await waitFor(client, client.images.build({ name: image }), `Building ${image}`);
}
