/**
 * @module lodge backup files (a directory of a backup, like ls -l) and lodge backup restore
 * --files (files and directories of a backup into a local directory, or a tar on stdout).
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import type { BackupFileEntry } from '../../api/backups.js';
import { LodgeError } from '../../api/errors.js';
import { formatSize } from '../../api/sizes.js';
import type { LodgeClient } from '../../client/index.js';
import { parseFormat, printJson, printTable } from '../output.js';

type StoreOf = (c: LodgeClient, asked: string | undefined) => Promise<string>;

const typeLetter: Record<BackupFileEntry['type'], string> = { file: '-', dir: 'd', symlink: 'l', chardev: 'c', blockdev: 'b', fifo: 'p', socket: 's' };

/** ls -l's mode column: the type, then rwx three times with setuid, setgid and sticky. */
export function modeString(type: BackupFileEntry['type'], mode: string): string {
  const m = parseInt(mode, 8);
  const bits = [...'rwxrwxrwx'].map((c, i) => (m & (0o400 >> i) ? c : '-'));
  const special = (i: number, bit: number, set: string) => {
    if (m & bit) bits[i] = bits[i] === '-' ? set.toUpperCase() : set;
  };
  special(2, 0o4000, 's');
  special(5, 0o2000, 's');
  special(8, 0o1000, 't');
  return `${typeLetter[type]}${bits.join('')}`;
}

/** Where files of a backup go: DIR, new or empty (made if missing). */
async function targetDir(dir: string): Promise<boolean> {
  const there = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw new LodgeError('BAD_REQUEST', `--to: ${dir} cannot be used: ${e.code === 'ENOTDIR' ? 'it is not a directory' : e.message}`);
  });
  if (there && there.length > 0) throw new LodgeError('BAD_REQUEST', `--to: ${dir} is not empty: name a new or empty directory`);
  if (!there) await mkdir(dir, { recursive: true });
  return !there;
}

/**
 * Writes files and directories of a backup into `to` (default ./GUEST-ID), or the tar itself
 * to stdout (`-`). What the guest wrote is hostile: the tar is unpacked by node-tar, which
 * keeps every entry inside the directory and never writes through a link; the files are the
 * caller's, without setuid, setgid or sticky bits (a guest's setuid-root file must not become
 * the host's), unless `sameOwner` asks for the guest's owners and modes as they were.
 */
export async function restoreFiles(c: LodgeClient, store: string, guest: string, id: string, paths: string[], how: { to: string | undefined; sameOwner: boolean }): Promise<void> {
  const { to, sameOwner } = how;
  if (to === '-') {
    const { incomplete } = await c.backups.downloadFiles(store, guest, id, paths, process.stdout);
    if (incomplete) process.stderr.write(`warning: ${incomplete}\n`);
    return;
  }
  const dir = path.resolve(to ?? `${guest}-${id}`);
  const made = await targetDir(dir);
  let entries = 0;
  try {
    // only a restore of files loads tar (outside the CLI's bundle)
    const { extract } = await import('tar');
    const sink = extract({
      cwd: dir,
      strict: true,
      preserveOwner: sameOwner,
      filter: (_path, entry) => {
        if (!sameOwner && 'mode' in entry && entry.mode !== undefined) entry.mode &= 0o777;
        return true;
      },
      onReadEntry: () => void entries++,
    });
    const { incomplete } = await c.backups.downloadFiles(store, guest, id, paths, sink as unknown as Writable);
    if (incomplete) process.stderr.write(`warning: ${incomplete}\n`);
  } catch (e) {
    if (made) await rm(dir, { recursive: true, force: true });
    throw e;
  }
  process.stderr.write(`${entries} ${entries === 1 ? 'entry' : 'entries'} of backup ${guest}/${id} are in ${dir}\n`);
}

export function registerFiles(backup: Command, client: () => LodgeClient, storeOf: StoreOf): void {
  backup
    .command('files')
    .description('list a directory of a backup, as the guest saw it (or show one file)')
    .argument('<guest>')
    .argument('<id>')
    .argument('[path]', 'an absolute path in the guest', '/')
    .option('--store <store>', 'the backup store (default: the only one)')
    .option('--format <format>', 'table or json', 'table')
    .addHelpText(
      'after',
      [
        '',
        "A container's files are read from the backup over its image's rootfs; a pv or vm guest's",
        'from its disk, by debugfs (ext2/3/4 only), without mounting it. Owners are the guest\'s ids.',
        'lodge backup restore GUEST ID --files PATH... takes files and directories out.',
        '',
        'Examples:',
        '  lodge backup files web1 2026-12-02T07-30-00.000Z /etc',
        '  lodge backup restore web1 2026-12-02T07-30-00.000Z --files /etc/nginx /root/notes --to ./old',
      ].join('\n'),
    )
    .action(async (guest: string, id: string, dir: string, flags: { store?: string; format: string }) => {
      const format = parseFormat(flags.format);
      const c = client();
      const list = await c.backups.listFiles(await storeOf(c, flags.store), guest, id, dir);
      if (format === 'json') return printJson(list);
      if (list.incomplete) process.stderr.write(`warning: ${list.incomplete}\n`);
      printTable(
        ['MODE', 'UID', 'GID', 'SIZE', 'MODIFIED', 'NAME'],
        list.entries.map((e) => [modeString(e.type, e.mode), String(e.uid), String(e.gid), e.type === 'file' ? formatSize(e.sizeBytes) : '', e.modifiedAt?.slice(0, 16).replace('T', ' ') ?? '', `${e.name}${e.target !== undefined ? ` -> ${e.target}` : ''}`]),
      );
    });
}
