/**
 * @module lodge file push|pull: copy a file into or out of a guest, running or stopped.
 */
import { createReadStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { chmod, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { LodgeError } from '../../api/errors.js';
import { formatMode, type GuestFile } from '../../api/files.js';
import { formatSize } from '../../api/sizes.js';
import type { LodgeClient } from '../../client/index.js';
import { parseFormat, printJson } from '../output.js';

function guestId(value: string, flag: string): number {
  if (!/^\d{1,10}$/.test(value)) throw new LodgeError('BAD_REQUEST', `${flag}: "${value}" is not a number (the guest's own id, e.g. 0 for root)`);
  return Number(value);
}

const describe = (f: GuestFile) => `${formatSize(f.sizeBytes)}, mode ${f.mode}, owner ${f.uid}:${f.gid}`;

export function register(program: Command, client: () => LodgeClient): void {
  const file = program.command('file').description("copy files into and out of a guest, running or stopped (paths resolve inside the guest's root)");

  file
    .command('push')
    .description('write a local file (or - for standard input) into a guest, replacing what is at the path')
    .argument('<name>', 'the guest')
    .argument('<local>', 'the file to send, or - for standard input')
    .argument('<path>', 'where in the guest: an absolute path; one ending in / takes the local file\'s name')
    .option('--mode <mode>', "permission bits in octal (default: the local file's; from standard input, the replaced file's or 0644)")
    .option('--uid <uid>', "the owner, as the guest's user id (default: the replaced file's, or root)")
    .option('--gid <gid>', "the group, as the guest's group id (default: the replaced file's, or root's)")
    .option('-p, --parents', "make the missing directories above it (root's, 0755)")
    .option('--format <format>', 'table or json', 'table')
    .addHelpText(
      'after',
      [
        '',
        'A container takes files running or stopped; a pv or vm guest while it runs, through its',
        "agent (Lodge's images have one). Owners are the guest's own ids, whatever the host maps",
        'them to.',
        '',
        'Examples:',
        '  lodge file push web1 ./nginx.conf /etc/nginx/nginx.conf',
        '  lodge file push web1 ./app /srv/bin/ --mode 0755 -p',
        '  echo "nameserver 10.0.0.1" | lodge file push web1 - /etc/resolv.conf',
      ].join('\n'),
    )
    .action(async (name: string, local: string, guestPath: string, flags: { mode?: string; uid?: string; gid?: string; parents?: boolean; format: string }) => {
      const format = parseFormat(flags.format);
      const fromStdin = local === '-';
      if (guestPath.endsWith('/')) {
        if (fromStdin) throw new LodgeError('BAD_REQUEST', `${guestPath} names a directory: with standard input, give the file's own name`);
        guestPath += path.basename(local);
      }
      let mode = flags.mode;
      if (!fromStdin) {
        const st = await stat(local).catch((e: NodeJS.ErrnoException) => {
          throw new LodgeError('BAD_REQUEST', `${local}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
        });
        if (!st.isFile()) throw new LodgeError('BAD_REQUEST', `${local} is not a regular file`);
        mode ??= formatMode(st.mode & 0o7777);
      }
      const data = fromStdin ? process.stdin : createReadStream(local);
      const query = {
        path: guestPath,
        ...(mode ? { mode } : {}),
        ...(flags.uid !== undefined ? { uid: guestId(flags.uid, '--uid') } : {}),
        ...(flags.gid !== undefined ? { gid: guestId(flags.gid, '--gid') } : {}),
        ...(flags.parents ? { parents: true } : {}),
      };
      const pushed = await client().guests.pushFile(name, query, data);
      if (format === 'json') return printJson(pushed);
      process.stderr.write(`pushed ${pushed.path} into ${name}: ${describe(pushed)}\n`);
    });

  file
    .command('pull')
    .description('copy a file of a guest to a local file (or - for standard output)')
    .argument('<name>', 'the guest')
    .argument('<path>', 'the file in the guest: an absolute path')
    .argument('[local]', 'where to write it: a file, a directory, or - for standard output (default: its name, here)')
    .option('--format <format>', 'table or json (with -, the JSON goes to standard error)', 'table')
    .addHelpText('after', ['', 'Examples:', '  lodge file pull web1 /etc/os-release', '  lodge file pull web1 /var/log/app.log ./logs/', '  lodge file pull web1 /etc/hostname -'].join('\n'))
    .action(async (name: string, guestPath: string, local: string | undefined, flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const c = client();
      if (local === '-') {
        const pulled = await c.guests.pullFile(name, guestPath, process.stdout);
        if (format === 'json') process.stderr.write(`${JSON.stringify(pulled)}\n`);
        return;
      }
      let target = local ?? path.basename(guestPath);
      if (!target) throw new LodgeError('BAD_REQUEST', `${guestPath} names no file`);
      if (await stat(target).then((s) => s.isDirectory(), () => false)) target = path.join(target, path.basename(guestPath));
      // written beside its place, a new file of an unguessable name, and renamed at the end: a pull that fails leaves nothing
      const partial = path.join(path.dirname(target), `.${path.basename(target)}.lodge-pull-${randomBytes(6).toString('hex')}`);
      const file = await open(partial, 'wx', 0o600);
      try {
        // the stream closes the file at its end, or when the pull fails
        const pulled = await c.guests.pullFile(name, guestPath, file.createWriteStream());
        await chmod(partial, parseInt(pulled.mode, 8) & 0o777);
        await rename(partial, target);
        if (format === 'json') return printJson({ ...pulled, local: target });
        process.stderr.write(`pulled ${guestPath} from ${name} to ${target}: ${describe(pulled)}\n`);
      } finally {
        await rm(partial, { force: true });
      }
    });
}
