/**
 * @module Reading a file, or reaching a socket, that an engine or a guest could have
 * replaced: anything in a directory a QEMU, a UML or a guest's agent may write. The name
 * is opened without following a link (O_NOFOLLOW) and without waiting on a FIFO
 * (O_NONBLOCK), must be what it should be (a regular file, a socket), and is read only up
 * to a cap. Errors name the file and what was wrong with it, never its contents.
 */
import { constants } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { LodgeError } from '../api/errors.js';

/** Linux's O_PATH (Node does not export it): a handle on the name itself, opened for nothing. */
const O_PATH = 0o10000000;

export interface UntrustedRead {
  /** What the file is, for messages: "the answer of guest g1's agent". */
  what: string;
  maxBytes: number;
}

function refuse(file: string, what: string, why: string): LodgeError {
  return new LodgeError('ENGINE_FAILED', `${what} (${file}) ${why}`);
}

/** The file opened for reading as a regular file; undefined if it does not exist. */
async function openUntrusted(file: string, what: string): Promise<{ handle: FileHandle; size: number } | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw refuse(file, what, 'is a symbolic link, which Lodge does not follow');
    throw refuse(file, what, `cannot be opened (${code ?? (e as Error).message})`);
  }
  const st = await handle.stat().catch(async (e: Error) => {
    await handle.close();
    throw e;
  });
  if (!st.isFile()) {
    await handle.close();
    throw refuse(file, what, 'is not a regular file');
  }
  // a second name: a hard link to a file the engine could not read itself (where the host lets one be made)
  if (st.nlink !== 1) {
    await handle.close();
    throw refuse(file, what, `has ${st.nlink} names (a hard link), which Lodge does not read`);
  }
  return { handle, size: st.size };
}

/** Up to `length` bytes from the start of `handle`. */
async function readHead(handle: FileHandle, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  for (let n; got < length && (n = (await handle.read(buf, got, length - got, got)).bytesRead) > 0; ) got += n;
  return buf.subarray(0, got);
}

/** The file's bytes; undefined if it does not exist. A link, a FIFO, a device or a file over the cap is an error. */
export async function readUntrusted(file: string, { what, maxBytes }: UntrustedRead): Promise<Buffer | undefined> {
  const opened = await openUntrusted(file, what);
  if (!opened) return undefined;
  try {
    const tooLarge = () => refuse(file, what, `is larger than the ${maxBytes} bytes Lodge reads of it`);
    if (opened.size > maxBytes) throw tooLarge();
    // one byte past the cap: a file that grows while it is read is refused too
    const buf = await readHead(opened.handle, Math.min(opened.size, maxBytes) + 1);
    if (buf.length > maxBytes) throw tooLarge();
    return buf;
  } finally {
    await opened.handle.close();
  }
}

/**
 * Up to `bytes` bytes of the file from `offset` (a file read as it grows, a little at a time);
 * undefined if it does not exist. A link, a FIFO, a device or a second name is an error.
 */
export async function readUntrustedFrom(file: string, what: string, offset: number, bytes: number): Promise<Buffer | undefined> {
  const opened = await openUntrusted(file, what);
  if (!opened) return undefined;
  try {
    const length = Math.max(0, Math.min(bytes, opened.size - offset));
    const buf = Buffer.alloc(length);
    let got = 0;
    for (let n; got < length && (n = (await opened.handle.read(buf, got, length - got, offset + got)).bytesRead) > 0; ) got += n;
    return buf.subarray(0, got);
  } finally {
    await opened.handle.close();
  }
}

/** The first `bytes` bytes of the file (fewer if it is shorter); undefined if it does not exist. */
export async function readUntrustedHead(file: string, what: string, bytes: number): Promise<Buffer | undefined> {
  const opened = await openUntrusted(file, what);
  if (!opened) return undefined;
  try {
    return await readHead(opened.handle, bytes);
  } finally {
    await opened.handle.close();
  }
}

/**
 * Copies the file's bytes into `dest`, a new file (0600) that must not exist yet, as readUntrusted
 * reads them but without holding them in memory; the number of bytes, or undefined if the file
 * does not exist. On any failure `dest` is removed.
 */
export async function copyUntrusted(file: string, dest: string, { what, maxBytes }: UntrustedRead): Promise<number | undefined> {
  const opened = await openUntrusted(file, what);
  if (!opened) return undefined;
  let out: FileHandle | undefined;
  try {
    const tooLarge = () => refuse(file, what, `is larger than the ${maxBytes} bytes Lodge reads of it`);
    if (opened.size > maxBytes) throw tooLarge();
    out = await open(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    const buf = Buffer.alloc(1024 * 1024);
    let total = 0;
    for (let n; (n = (await opened.handle.read(buf, 0, buf.length, total)).bytesRead) > 0; total += n) {
      // a file that grows while it is copied is refused too
      if (total + n > maxBytes) throw tooLarge();
      for (let done = 0; done < n; ) done += (await out.write(buf, done, n - done)).bytesWritten;
    }
    await out.close();
    out = undefined;
    return total;
  } catch (e) {
    if (out) {
      await out.close();
      await rm(dest, { force: true });
    }
    throw e;
  } finally {
    await opened.handle.close();
  }
}

/** As readUntrusted, as UTF-8 text. */
export async function readUntrustedText(file: string, read: UntrustedRead): Promise<string | undefined> {
  return (await readUntrusted(file, read))?.toString('utf8');
}

/** As readUntrustedText, parsed as JSON; a parse error names the file, never its text. */
export async function readUntrustedJson(file: string, read: UntrustedRead): Promise<unknown> {
  const text = await readUntrustedText(file, read);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw refuse(file, read.what, 'is not valid JSON');
  }
}

/**
 * Runs `use` with a name for the socket at `socket` that cannot be swapped: /proc/self/fd/N
 * of an O_PATH handle opened without following a link. connect() and sendto() on that name
 * reach the socket that was there when it was opened, never where a link would lead.
 */
export async function withUntrustedSocket<T>(socket: string, what: string, use: (name: string) => Promise<T>): Promise<T> {
  let handle: FileHandle;
  try {
    handle = await open(socket, O_PATH | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw refuse(socket, what, 'is a symbolic link, which Lodge does not follow');
    throw refuse(socket, what, `cannot be opened (${code ?? (e as Error).message})`);
  }
  try {
    // with O_PATH, O_NOFOLLOW opens a link itself rather than failing
    const st = await handle.stat();
    if (st.isSymbolicLink()) throw refuse(socket, what, 'is a symbolic link, which Lodge does not follow');
    if (!st.isSocket()) throw refuse(socket, what, 'is not a socket');
    return await use(`/proc/self/fd/${handle.fd}`);
  } finally {
    await handle.close();
  }
}
