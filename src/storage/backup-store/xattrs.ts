/**
 * @module The extended attributes of a backed-up tree: a container's overlay marks
 * (trusted.overlay.opaque), file capabilities, ACLs, user.* and security.* labels. Node has
 * no calls for them, so lodge-xattrs reads a whole tree's in one run before a backup walks
 * it, and sets a restored tree's in one run once its files are written (it says which
 * attributes it keeps, and how it never follows a symlink). Records travel as text lines:
 * the path, then each name and value, all in hex.
 *
 * Owners need no mapping here, and neither does a file capability's root id: a tree keeps
 * the host ids its files have, and every unprivileged container has the one id map
 * (drivers/ct/oci-spec.ts, defaultIdMap) on every host, so a restore to a new guest,
 * here or on another host, gives the files the same host ids; a capability set in a
 * container (security.capability v3, whose root id is the host id of the container's root)
 * still names that guest's root, and a privileged container's (v2) names none.
 */
import { fileURLToPath } from 'node:url';
import { LodgeError } from '../../api/errors.js';
import { ExecError, run } from '../../lib/exec.js';
import type { Xattr } from './catalog.js';

const helper = fileURLToPath(new URL('../../../shim/lodge-xattrs', import.meta.url));
/** The most text of records one tree may have: a guest could give every file 64 KiB of user.* attributes. */
export const xattrTextCap = 64 * 1024 * 1024;
/** A tree's dump is one walk of it; what a backup reads after takes longer. */
const dumpTimeoutMs = 10 * 60 * 1000;
const hex = /^(?:[0-9a-f]{2})*$/;

/** What the helper said, for a message: its stderr, or why it did not run. */
const why = (e: unknown) => (e instanceof ExecError && e.result.stderr.trim()) || (e as Error).message;

function fromHex(s: string, line: string): Buffer {
  if (!hex.test(s)) throw new LodgeError('INTERNAL', `lodge-xattrs gave a record that is not hex: ${line.slice(0, 200)}`);
  return Buffer.from(s, 'hex');
}

/** The attributes kept of every entry under `root` that has any, by path (as latin1 text, '' for the root). */
export async function readTreeXattrs(root: string, opts: { oneFileSystem: boolean; signal?: AbortSignal }): Promise<Map<string, Xattr[]>> {
  let out: string;
  try {
    ({ stdout: out } = await run([helper, 'dump', ...(opts.oneFileSystem ? ['--one-file-system'] : []), root], { outputCapBytes: xattrTextCap, timeoutMs: dumpTimeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) }));
  } catch (e) {
    throw new LodgeError('INTERNAL', `Failed reading the extended attributes of ${root}: ${why(e)}`, { cause: e });
  }
  const found = new Map<string, Xattr[]>();
  for (const line of out.split('\n').slice(0, -1)) {
    const fields = line.split(' ');
    if (fields.length < 3 || fields.length % 2 === 0) throw new LodgeError('INTERNAL', `lodge-xattrs gave a record without a name and value: ${line.slice(0, 200)}`);
    const attrs: Xattr[] = [];
    for (let i = 1; i < fields.length; i += 2) attrs.push([fromHex(fields[i]!, line), fromHex(fields[i + 1]!, line)]);
    found.set(fromHex(fields[0]!, line).toString('latin1'), attrs);
  }
  return found;
}

/** Records of a restored tree's attributes, gathered while its entries are made, set once they all are. */
export class XattrRecords {
  private readonly lines: string[] = [];
  private bytes = 0;

  add(path: Buffer, attrs: Xattr[]): void {
    const line = `${[path, ...attrs.flat()].map((b) => b.toString('hex')).join(' ')}\n`;
    this.bytes += line.length;
    if (this.bytes > xattrTextCap) throw new LodgeError('BAD_REQUEST', `the catalog's extended attributes pass ${xattrTextCap / 1024 / 1024} MiB, more than a backup keeps (a tampered catalog)`);
    this.lines.push(line);
  }

  /** Sets them under `root`; what the host refused (no right, no support) comes back as skipped, with why. */
  async apply(root: string, signal?: AbortSignal): Promise<{ path: string; why: string }[]> {
    if (this.lines.length === 0) return [];
    let out: string;
    try {
      ({ stdout: out } = await run([helper, 'restore', root], { input: this.lines.join(''), timeoutMs: dumpTimeoutMs, ...(signal ? { signal } : {}) }));
    } catch (e) {
      throw new LodgeError('INTERNAL', `Failed setting the extended attributes of ${root}: ${why(e)}`, { cause: e });
    }
    return out
      .split('\n')
      .slice(0, -1)
      .map((line) => {
        const [path, name, ...why] = line.split(' ');
        return { path: fromHex(path!, line).toString('utf8'), why: `extended attribute ${fromHex(name ?? '', line).toString('utf8')} not set: ${why.join(' ')}` };
      });
  }
}
