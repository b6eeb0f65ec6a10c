/**
 * @module A newc cpio archive (what the kernel unpacks as an initramfs), written in
 * memory from a short list of entries. Pure, tested beside it.
 */

export type CpioEntry =
  | { path: string; type: 'dir'; mode?: number }
  | { path: string; type: 'file'; data: Buffer; mode?: number }
  | { path: string; type: 'symlink'; target: string };

const hex = (n: number) => n.toString(16).padStart(8, '0');
const pad4 = (n: number) => (4 - (n % 4)) % 4;

function record(ino: number, mode: number, name: string, data: Buffer): Buffer {
  const nameBytes = Buffer.from(`${name}\0`);
  const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0];
  const header = Buffer.from(`070701${fields.map(hex).join('')}`);
  return Buffer.concat([header, nameBytes, Buffer.alloc(pad4(header.length + nameBytes.length)), data, Buffer.alloc(pad4(data.length))]);
}

export function cpioArchive(entries: readonly CpioEntry[]): Buffer {
  const parts = entries.map((e, i) => {
    const name = e.path.replace(/^\/+/, '');
    if (e.type === 'dir') return record(i + 1, 0o040000 | (e.mode ?? 0o755), name, Buffer.alloc(0));
    if (e.type === 'symlink') return record(i + 1, 0o120777, name, Buffer.from(e.target));
    return record(i + 1, 0o100000 | (e.mode ?? 0o644), name, e.data);
  });
  return Buffer.concat([...parts, record(0, 0, 'TRAILER!!!', Buffer.alloc(0))]);
}
