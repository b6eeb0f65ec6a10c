/**
 * @module What changed on a pv guest's disk since a mark, for an engine that tracks
 * nothing: a sector whose bit in the COW file's bitmap is clear reads from the base. So at
 * each backup the bitmap is kept as that backup's mark (its map, in a directory of
 * lodged's), and the next backup reads again only the chunks with a bit set
 * now or then; any other chunk read the same bytes of the same base both times. That holds
 * whatever happened to the COW file between (a snapshot restored, a restore over the
 * guest): a mark over another base than now's is not trusted, and the whole disk is read.
 */
import { lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeCowMap, encodeCowMap } from './cow-disk.js';
import { setRuns, type CowHeader } from './cow.js';

type Ranges = Array<[number, number]>;

/** Lodge's marks have this prefix; nothing else is in their directory. */
const markPrefix = 'lodge-';
const markName = /^lodge-[A-Za-z0-9._-]{1,100}$/;
const suffix = '.map';

/**
 * Keeps `bitmap` (the COW file's, with the guest quiesced) as `mark` in `dir` and answers
 * which ranges may differ from what they were at mark `since` (undefined when that mark is
 * not there to trust). Every other mark is dropped.
 */
export async function markCowChanges(o: { header: CowHeader; bitmap: Buffer; dir: string; mark: string; since: string | undefined }): Promise<Ranges | undefined> {
  const { header, bitmap, dir, mark, since } = o;
  if (!markName.test(mark)) throw new Error(`${mark} is not a name Lodge gives a mark`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await lstat(dir);
  if (!st.isDirectory() || st.uid !== process.getuid!()) throw new Error(`${dir} is not a directory of lodged's own: no mark is kept there`);
  let changed: Ranges | undefined;
  const saved = since && markName.test(since) ? await readFile(path.join(dir, since + suffix)).catch(() => undefined) : undefined;
  const kept = saved && decodeCowMap(saved);
  const then = kept && kept.base.file === header.backingFile && kept.base.mtime === header.mtime && kept.base.size === header.size ? kept.bitmap : undefined;
  if (then) {
    const either = Buffer.from(bitmap);
    for (let i = 0; i < either.length; i++) either[i]! |= then[i]!;
    changed = [...setRuns(either, 0, header.size)].map(([a, b]): [number, number] => [a, b - a]);
  }
  const file = path.join(dir, mark + suffix);
  await writeFile(`${file}.tmp`, encodeCowMap(header, bitmap), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
  for (const name of await readdir(dir)) {
    if (name.startsWith(markPrefix) && name !== mark + suffix) await rm(path.join(dir, name), { force: true });
  }
  return changed;
}
