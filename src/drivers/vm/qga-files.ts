/**
 * @module `lodge file push|pull` in vm guests, over the QEMU guest agent: the bytes through
 * guest-file-open/read/write/close in base64 chunks, the checks, owner, mode and rename
 * through guest-exec of the guest's shell (drivers/files-script.ts), as in pv guests. Any
 * agent with these commands serves: Debian's qemu-guest-agent, lodge-ga in Lodge's busybox.
 * A push writes a new file beside the path and renames it over it; a pull reads only what
 * the guest's shell found to be a regular file, up to the cap. The agent's answers are the
 * guest's: a chunk is taken only when it is base64 of no more than was asked for.
 */
import { constants } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { LodgeError } from '../../api/errors.js';
import type { ExecPost } from '../../api/guests.js';
import type { FilePush, GuestFileInfo } from '../driver.js';
import { filesAnswer, filesCommand, ownership, tempBeside } from '../files-script.js';
import { guestExec, type ExecTimes, type Qga, QgaError } from './qga.js';

/** Bytes per guest-file-read and guest-file-write: 64 KiB of base64 in a request or an answer. */
export const chunkBytes = 48 * 1024;

const base64 = /^[A-Za-z0-9+/]*={0,2}$/;
const handleOf = (h: unknown): number => {
  if (!Number.isSafeInteger(h)) throw new QgaError('guest-file-open: the guest agent gave no handle');
  return h as number;
};

/** What a file copy needs of the guest: its agent, its name (for exec's messages), and the copy's words for errors. */
export interface FilesContext {
  qga: Qga;
  name: string;
  what: string;
  times: ExecTimes;
}

/** The agent refused a file command (its connection goes on): the guest's reason, for the user. */
async function refusedAs<T>(c: FilesContext, action: Promise<T>): Promise<T> {
  try {
    return await action;
  } catch (e) {
    if (e instanceof QgaError && !c.qga.ended) throw new LodgeError('BAD_REQUEST', `${c.what}: ${e.message}`);
    throw e;
  }
}

const script = async (c: FilesContext, command: string[]) => filesAnswer(await guestExec(c.qga, c.name, { command } satisfies ExecPost, c.times), c.what);

/** Runs `use` on a file of the guest opened in `mode`, closing it after, whatever happened. */
async function withGuestFile<T>(c: FilesContext, guestPath: string, mode: 'r' | 'w', use: (handle: number) => Promise<T>): Promise<T> {
  const handle = handleOf(await refusedAs(c, c.qga.request('guest-file-open', { path: guestPath, mode }, c.times.answerMs)));
  try {
    return await use(handle);
  } finally {
    if (!c.qga.ended) await c.qga.request('guest-file-close', { handle }, c.times.answerMs).catch(() => {});
  }
}

export async function pushFile(c: FilesContext, push: FilePush): Promise<GuestFileInfo> {
  const temp = tempBeside(push.path);
  await script(c, filesCommand('prepare', push.path, temp, push.parents ? '1' : '0'));
  const source = await open(push.source, constants.O_RDONLY);
  try {
    await withGuestFile(c, temp, 'w', async (handle) => {
      const buf = Buffer.alloc(chunkBytes);
      for (let n, at = 0; (n = (await source.read(buf, 0, chunkBytes, at)).bytesRead) > 0; at += n) {
        const wrote = await refusedAs(c, c.qga.request<{ count?: unknown }>('guest-file-write', { handle, 'buf-b64': buf.toString('base64', 0, n) }, c.times.answerMs));
        if (wrote?.count !== n) throw new QgaError(`guest-file-write: the guest agent wrote ${String(wrote?.count)} of ${n} bytes`);
      }
    });
  } catch (e) {
    // the new file goes; what was at the path is as it was
    if (!c.qga.ended) await guestExec(c.qga, c.name, { command: ['rm', '-f', '--', temp] }, c.times).catch(() => {});
    throw e;
  } finally {
    await source.close();
  }
  return script(c, filesCommand('finish', push.path, temp, ...ownership(push)));
}

/** Copies a regular file of the guest into `dest` (made here; removed again if the copy fails). */
export async function pullFile(c: FilesContext, guestPath: string, dest: string, maxBytes: number): Promise<GuestFileInfo> {
  const info = await script(c, filesCommand('stat', guestPath, String(maxBytes)));
  let out: FileHandle | undefined = await open(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    const sizeBytes = await withGuestFile(c, guestPath, 'r', async (handle) => {
      let total = 0;
      for (;;) {
        const read = await refusedAs(c, c.qga.request<{ count?: unknown; 'buf-b64'?: unknown; eof?: unknown }>('guest-file-read', { handle, count: chunkBytes }, c.times.answerMs));
        const data = read?.['buf-b64'] ?? '';
        if (typeof data !== 'string' || !base64.test(data)) throw new QgaError('guest-file-read: the guest agent sent no base64');
        const bytes = Buffer.from(data, 'base64');
        if (bytes.length > chunkBytes || read.count !== bytes.length) throw new QgaError(`guest-file-read: the guest agent sent ${bytes.length} bytes, not what it counted or more than was asked`);
        total += bytes.length;
        // the file grew since the guest's shell looked at it
        if (total > maxBytes) throw new LodgeError('BAD_REQUEST', `${c.what}: ${guestPath} is over ${maxBytes} bytes, more than lodged takes`);
        for (let done = 0; done < bytes.length; ) done += (await out!.write(bytes, done, bytes.length - done)).bytesWritten;
        if (read.eof === true || bytes.length === 0) return total;
      }
    });
    await out.close();
    out = undefined;
    return { ...info, sizeBytes };
  } catch (e) {
    if (out) {
      await out.close();
      await rm(dest, { force: true });
    }
    throw e;
  }
}
