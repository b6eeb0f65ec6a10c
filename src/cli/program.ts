/**
 * @module The lodge command line: every command lives in commands/ and registers itself
 * here. It talks to lodged through the typed client only.
 */
import { Command, CommanderError } from 'commander';
import { LodgeClient } from '../client/index.js';
import { register as autonomic } from './commands/autonomic.js';
import { register as backup } from './commands/backup.js';
import { register as backupStore } from './commands/backup-store.js';
import { register as guestConsole } from './commands/guest-console.js';
import { register as guestConfig } from './commands/guest-config.js';
import { register as guestCopy } from './commands/guest-copy.js';
import { register as guestDelete } from './commands/guest-delete.js';
import { register as guestExport } from './commands/guest-export.js';
import { register as guestExec } from './commands/guest-exec.js';
import { register as guestLaunch } from './commands/guest-launch.js';
import { register as guestList } from './commands/guest-list.js';
import { register as guestRename } from './commands/guest-rename.js';
import { register as guestSet } from './commands/guest-set.js';
import { register as guestState } from './commands/guest-state.js';
import { register as file } from './commands/file.js';
import { register as forward } from './commands/forward.js';
import { register as image } from './commands/image.js';
import { register as network } from './commands/network.js';
import { register as operation } from './commands/operation.js';
import { register as remote } from './commands/remote.js';
import { register as snapshot } from './commands/snapshot.js';
import { register as storage } from './commands/storage.js';
import { register as token } from './commands/token.js';
import { register as user } from './commands/user.js';
import { register as volume } from './commands/volume.js';
import { separateExecCommand } from './exec-args.js';
import { describeError } from './output.js';
import { remoteNamed } from './remotes.js';
import { lodgeVersion } from '../api/version.js';

const program = new Command('lodge')
  .description('Lodge: virtual machines, paravirtual guests and system containers on one host')
  .version(lodgeVersion())
  .option('--remote <name>', 'talk to the lodged of a remote (lodge remote add) over HTTPS; default $LODGE_REMOTE')
  .addHelpText('after', '\nlodge talks to lodged on /run/lodge/lodge.sock, or on $LODGE_SOCKET; with --remote NAME (or $LODGE_REMOTE),\nto a lodged on another machine over HTTPS (lodge remote add).\n\nStart here:\n  lodge image build busybox\n  lodge launch busybox web1\n  lodge exec web1 -- ps\n  lodge console web1')
  .exitOverride()
  .configureOutput({ outputError: () => {} });

let client: LodgeClient | undefined;
const getClient = () => {
  const remoteName = (program.opts() as { remote?: string }).remote ?? (process.env.LODGE_REMOTE || undefined);
  return (client ??= new LodgeClient(remoteName === undefined ? undefined : remoteNamed(remoteName)));
};
for (const register of [guestLaunch, guestList, guestState, guestDelete, guestCopy, guestRename, guestExport, guestSet, guestConfig, guestExec, guestConsole, file, image, network, storage, volume, snapshot, backup, backupStore, forward, operation, autonomic, user, token]) register(program, getClient);
remote(program);

try {
  await program.parseAsync(separateExecCommand(process.argv.slice(2)), { from: 'user' });
} catch (e) {
  if (e instanceof CommanderError) {
    // help and version end with code 0; a usage error gets one line and a hint
    if (e.exitCode !== 0) process.stderr.write(`lodge: ${e.message.replace(/^error: /, '')} (see lodge --help)\n`);
    process.exitCode = e.exitCode;
  } else {
    process.stderr.write(`lodge: ${describeError(e)}\n`);
    process.exitCode = 1;
  }
}
