/**
 * @module What changed on a vm's root disk since a mark: QEMU's persistent dirty bitmaps on
 * the qcow2 overlay, one per backup (its mark), kept in the file across restarts of the
 * guest. At a backup, with the guest quiesced, a new mark starts and the last one is read
 * and dropped:
 * - running: in one QMP transaction the new bitmap is added and the last one disabled (no
 *   write falls between them); the last one is merged into a bitmap of a small carrier
 *   qcow2 that QEMU opens and closes, which writes it there for Lodge to read (QMP has no
 *   command that gives a bitmap's bits);
 * - stopped: the bitmap is read from the disk file (QEMU wrote it at its exit), then
 *   qemu-img, as the guest's uid, adds the new one and drops the old.
 * A mark QEMU did not close (a killed QEMU) or that does not record is not trusted: the
 * backup then reads the whole disk.
 */
import { chmod, chown, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../lib/exec.js';
import { openQcow2 } from '../../storage/qcow2-reader.js';
import type { Qmp } from './qmp.js';

/** Bytes a bit of a mark stands for: qcow2's cluster. */
const granularity = 64 * 1024;
/** Every bitmap of Lodge's has this prefix; others (an admin's) are left alone. */
const markPrefix = 'lodge-';

type Ranges = Array<[number, number]>;

interface BlockInfo {
  device: string;
  inserted?: { 'node-name': string; image: { 'virtual-size': number }; 'dirty-bitmaps'?: Array<{ name: string; recording: boolean; inconsistent?: boolean; busy?: boolean }> };
}

/** The running guest's side: `dir` is made new (root's, QEMU's uid may pass) for the carrier, and removed. */
export async function markRunning(qmp: Qmp, options: { device: string; uid: number; dir: string; mark: string; since: string | undefined }): Promise<Ranges | undefined> {
  const { device, uid, dir, mark, since } = options;
  const block = (await qmp.execute<BlockInfo[]>('query-block')).find((b) => b.device === device)?.inserted;
  if (!block) throw new Error(`QEMU has no disk ${device}`);
  const bitmaps = block['dirty-bitmaps'] ?? [];
  const last = bitmaps.find((b) => b.name === since && b.recording && !b.inconsistent && !b.busy);
  await qmp.execute('transaction', {
    actions: [
      { type: 'block-dirty-bitmap-add', data: { node: device, name: mark, persistent: true, granularity } },
      ...(last ? [{ type: 'block-dirty-bitmap-disable', data: { node: device, name: last.name } }] : []),
    ],
  });
  let changed: Ranges | undefined;
  if (last) changed = await readThroughCarrier(qmp, { node: block['node-name'], bitmap: last.name, size: block.image['virtual-size'], uid, dir }).catch(() => undefined);
  for (const b of bitmaps) if (b.name.startsWith(markPrefix) && b.name !== mark) await qmp.execute('block-dirty-bitmap-remove', { node: device, name: b.name });
  return changed;
}

async function readThroughCarrier(qmp: Qmp, o: { node: string; bitmap: string; size: number; uid: number; dir: string }): Promise<Ranges> {
  await rm(o.dir, { recursive: true, force: true });
  await mkdir(o.dir, { mode: 0o710 });
  await chown(o.dir, 0, o.uid);
  const carrier = path.join(o.dir, 'carrier.qcow2');
  const node = 'lodge-carrier';
  // one left by a read cut short would make every later add fail
  await qmp.execute('blockdev-del', { 'node-name': node }).catch(() => undefined);
  try {
    await run(['qemu-img', 'create', '-q', '-f', 'qcow2', carrier, String(o.size)]);
    await chown(carrier, o.uid, o.uid);
    await chmod(carrier, 0o600);
    await qmp.execute('blockdev-add', { 'node-name': node, driver: 'qcow2', file: { driver: 'file', filename: carrier } });
    try {
      await qmp.execute('block-dirty-bitmap-add', { node, name: 'changes', persistent: true, disabled: true, granularity });
      await qmp.execute('block-dirty-bitmap-merge', { node, target: 'changes', bitmaps: [{ node: o.node, name: o.bitmap }] });
    } finally {
      // closing the node writes its persistent bitmap into the file
      await qmp.execute('blockdev-del', { 'node-name': node });
    }
    return await changedIn(carrier, 'changes');
  } finally {
    await rm(o.dir, { recursive: true, force: true });
  }
}

/** The stopped guest's side, on its disk `file`. */
export async function markStopped(options: { file: string; uid: number; mark: string; since: string | undefined }): Promise<Ranges | undefined> {
  const { file, uid, mark, since } = options;
  const disk = await openQcow2(file);
  let names: string[];
  let changed: Ranges | undefined;
  try {
    names = disk.bitmaps.map((b) => b.name);
    const last = disk.bitmaps.find((b) => b.name === since && b.recording && !b.inUse);
    // a bitmap that cannot be read is not trusted: the whole disk is read
    if (last) changed = await disk.dirtyRanges(last).catch(() => undefined);
  } finally {
    await disk.close();
  }
  // qemu-img parses a file its guest's QEMU wrote: as that guest's uid, never root, unable to
  // gain privileges, told its format and to open no backing file (whatever the file names)
  const image = `json:${JSON.stringify({ driver: 'qcow2', file: { driver: 'file', filename: file }, backing: null })}`;
  const asGuest = (args: string[]) => run(['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--no-new-privs', '--inh-caps=-all', 'qemu-img', 'bitmap', ...args]);
  for (const name of names) if (name.startsWith(markPrefix) && name !== mark) await asGuest(['--remove', image, name]);
  await asGuest(['--add', '-g', String(granularity), image, mark]);
  return changed;
}

/** The ranges a closed bitmap of `file` holds. */
async function changedIn(file: string, bitmap: string): Promise<Ranges> {
  const disk = await openQcow2(file);
  try {
    const b = disk.bitmaps.find((x) => x.name === bitmap);
    if (!b) throw new Error(`${file} has no bitmap ${bitmap}`);
    return await disk.dirtyRanges(b);
  } finally {
    await disk.close();
  }
}
