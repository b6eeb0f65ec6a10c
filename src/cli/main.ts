#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node
/**
 * @module lodge, the command line of Lodge: its entry, kept small so that a start costs
 * little. `lodge --version` answers without loading the commands; everything else loads
 * them (program.ts). The shebang drops NODE_EXTRA_CA_CERTS: the CLI speaks to a unix
 * socket, or to a remote whose certificate it pins by fingerprint (no authority is asked),
 * and Node parses that certificate bundle at every start (about 45 ms here).
 */
import { lodgeVersion } from '../api/version.js';

// output piped into a reader that stops early (lodge list | head) ends the command quietly
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(0);
});

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) console.log(lodgeVersion());
else await import('./program.js');
