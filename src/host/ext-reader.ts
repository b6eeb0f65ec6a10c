/**
 * @module Reading the ext2/3/4 filesystem of a disk image a guest wrote, without the kernel
 * parsing it (no mount): debugfs (e2fsprogs) lists it and copies out of it, and tar packs
 * what it copied. A guest's disk is hostile, so each program runs through lodge-userns
 * (shim/lodge-userns.c): the root of a user namespace of its own whose ids are a range of
 * the host's that no guest or user has, without network, its processes killed when it ends.
 * It keeps the owners it reads; to the host it is no one. lodged reads nothing it wrote but
 * the text it prints and the bytes tar sends.
 */
import type { Readable } from 'node:stream';
import { LodgeError } from '../api/errors.js';
import { run, runStreaming } from '../lib/exec.js';

/** The host ids the readers run as: above containers' (1,000,000 + 65,536), below the engines' (from 1,200,000). */
export const readerIds = { hostId: 1_100_000, count: 65_536 } as const;

/** A disk image file others may read, and where its filesystem starts in it. */
export interface ExtImage {
  file: string;
  offset: number;
}

export interface ExtEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket';
  /** Permission bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
}

const types: Record<number, ExtEntry['type']> = { 0o040000: 'dir', 0o100000: 'file', 0o120000: 'symlink', 0o020000: 'chardev', 0o060000: 'blockdev', 0o010000: 'fifo', 0o140000: 'socket' };

/** The command that runs `argv` as the readers run. */
export const asReader = (helper: string, argv: string[]): string[] => [helper, String(readerIds.hostId), String(readerIds.count), ...argv];

/** Why debugfs cannot be given `p`, if it cannot: its commands are a line, where a control character has no place. */
export function debugfsPathProblem(p: string): string | undefined {
  return /[\u0000-\u001f\u007f]/.test(p) ? 'holds a control character, which debugfs cannot be given' : undefined;
}

/** A path as one word of a debugfs command (a quote inside doubled). */
const quoted = (p: string) => `"${p.replaceAll('"', '""')}"`;
const source = (image: ExtImage) => (image.offset ? `${image.file}?offset=${image.offset}` : image.file);

/** The entries of `debugfs ls -p`: /INODE/MODE/UID/GID/NAME/SIZE/ per line, . and .. left out (a line that is not one, from a hostile name, too). */
export function parseListing(text: string): ExtEntry[] {
  const out: ExtEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^\/\d+\/([0-7]{1,7})\/(\d+)\/(\d+)\/(.*)\/(\d*)\/$/s.exec(line);
    if (!m) continue;
    const name = m[4]!;
    const mode = parseInt(m[1]!, 8);
    const type = types[mode & 0o170000];
    if (!type || name === '.' || name === '..' || name === '') continue;
    out.push({ name, type, mode: mode & 0o7777, uid: Number(m[2]), gid: Number(m[3]), size: Number(m[5] || 0) });
  }
  return out;
}

/** What debugfs said went wrong: its stderr less its banner. */
const complaints = (stderr: string) =>
  stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^debugfs \d/.test(l));

async function debugfs(helper: string, image: ExtImage, command: string): Promise<{ stdout: string; said: string[] }> {
  // an rdump of a large tree takes as long as its bytes do
  const r = await run(asReader(helper, ['debugfs', '-R', command, source(image)]), { timeoutMs: 3_600_000 });
  return { stdout: r.stdout, said: complaints(r.stderr) };
}

/**
 * The entries of directory `dir` (absolute, as the guest sees it), or when it is no directory
 * the one entry it is; undefined when there is nothing at the path.
 */
export async function listExt(helper: string, image: ExtImage, dir: string): Promise<ExtEntry[] | undefined> {
  const { stdout, said } = await debugfs(helper, image, `ls -p ${quoted(dir)}`);
  if (said.some((l) => /File not found by ext2_lookup/.test(l))) return undefined;
  if (said.some((l) => /is not a directory/.test(l))) {
    const parent = dir.slice(0, dir.lastIndexOf('/')) || '/';
    const name = dir.slice(dir.lastIndexOf('/') + 1);
    const listed = await debugfs(helper, image, `ls -p ${quoted(parent)}`);
    const entry = parseListing(listed.stdout).find((e) => e.name === name);
    return entry ? [entry] : undefined;
  }
  if (said.length > 0) throw new LodgeError('ENGINE_FAILED', `debugfs cannot read the filesystem: ${said.join('; ').slice(0, 500)}`);
  return parseListing(stdout);
}

/**
 * Copies each of `paths` (absolute) and what it holds into `out` under the same path, with
 * owners, modes and times (directories `out` holds already for each path's parent). Says
 * what debugfs said of each path it could not copy.
 */
export async function dumpExt(helper: string, image: ExtImage, paths: string[], out: string): Promise<string[]> {
  const said: string[] = [];
  for (const p of paths) {
    const dest = p === '/' ? out : `${out}${p.slice(0, p.lastIndexOf('/'))}`;
    said.push(...(await debugfs(helper, image, `rdump ${quoted(p)} ${quoted(dest)}`)).said);
  }
  return said;
}

/** Makes directories (and their parents) as the readers, for dumpExt to write into. */
export async function makeReaderDirs(helper: string, dirs: string[]): Promise<void> {
  await run(asReader(helper, ['mkdir', '-p', '--', ...dirs]));
}

/** A tar of `members` (relative to `dir`, what directories hold included), packed as the readers: owners as they are, by number. */
export function tarAsReader(helper: string, dir: string, members: string[], signal?: AbortSignal): Readable {
  return runStreaming(asReader(helper, ['tar', '--create', '--file=-', '--numeric-owner', '--sparse', `--directory=${dir}`, '--', ...members]), { timeoutMs: 3_600_000, ...(signal ? { signal } : {}) });
}
