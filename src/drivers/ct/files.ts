/**
 * @module Files into and out of a container, through lodge-files (shim/lodge-files.c): it
 * chroots into the guest's root (the running guest's /proc/PID/root, or the overlay of a
 * stopped one, mounted in its own mount namespace with the guest's volumes), so whatever
 * links the guest made resolve inside it. Ids cross as the guest sees them: an
 * unprivileged guest's are shifted by its id map on the way in and back on the way out.
 */
import { LodgeError } from '../../api/errors.js';
import { ExecError, run } from '../../lib/exec.js';
import type { FilePush, GuestFileInfo } from '../driver.js';

/** Where lodge-files finds the guest's root: its arguments before the operation. */
export type FilesRoot = string[];

/** The guest's ids on the host: `base` is what the guest's root is (0 for a privileged guest). */
export interface IdShift {
  base: number;
  size: number;
}

/** A host id as the guest sees it; one outside its map is nobody (65534), as the kernel shows it. */
const toGuest = (id: number, shift: IdShift) => (shift.base === 0 ? id : id >= shift.base && id < shift.base + shift.size ? id - shift.base : 65534);

/** A guest id as the host has it; left out, "-" (lodge-files keeps the replaced file's). */
function toHost(id: number | undefined, shift: IdShift, field: string): string {
  if (id === undefined) return '-';
  if (shift.base !== 0 && id >= shift.size) throw new LodgeError('BAD_REQUEST', `${field}: ${id} is outside the guest's ids (0 to ${shift.size - 1})`);
  return String(shift.base + id);
}

async function runFiles(helper: string, argv: string[], what: string): Promise<{ mode: number; hostUid: number; hostGid: number; sizeBytes: number }> {
  try {
    const { stdout } = await run([helper, ...argv], { timeoutMs: 30 * 60_000 });
    const m = /^ok ([0-7]+) (\d+) (\d+) (\d+)$/m.exec(stdout);
    if (!m) throw new Error(`lodge-files answered ${JSON.stringify(stdout.slice(0, 200))}`);
    return { mode: parseInt(m[1]!, 8), hostUid: Number(m[2]), hostGid: Number(m[3]), sizeBytes: Number(m[4]) };
  } catch (e) {
    const stderr = e instanceof ExecError ? e.result.stderr : '';
    const why = /^lodge-files: (.*)$/m.exec(stderr)?.[1];
    // status 1: the guest's file cannot be had, said for the user; anything else is Lodge's to fix
    if (e instanceof ExecError && e.result.code === 1 && why) throw new LodgeError(/No such file/.test(why) ? 'NOT_FOUND' : 'BAD_REQUEST', `${what}: ${why}`);
    throw new LodgeError('ENGINE_FAILED', `${what}: ${why ?? (e as Error).message}`, { cause: e });
  }
}

export async function pushFile(helper: string, root: FilesRoot, shift: IdShift, push: FilePush, what: string): Promise<GuestFileInfo> {
  const uid = toHost(push.uid, shift, 'uid');
  const gid = toHost(push.gid, shift, 'gid');
  const argv = [...root, 'push', push.path, push.source, push.mode?.toString(8) ?? '-', uid, gid, push.parents ? '1' : '0'];
  const info = await runFiles(helper, argv, what);
  return { mode: info.mode, uid: toGuest(info.hostUid, shift), gid: toGuest(info.hostGid, shift), sizeBytes: info.sizeBytes };
}

export async function pullFile(helper: string, root: FilesRoot, shift: IdShift, guestPath: string, dest: string, maxBytes: number, what: string): Promise<GuestFileInfo> {
  const info = await runFiles(helper, [...root, 'pull', guestPath, dest, String(maxBytes)], what);
  return { mode: info.mode, uid: toGuest(info.hostUid, shift), gid: toGuest(info.hostGid, shift), sizeBytes: info.sizeBytes };
}
