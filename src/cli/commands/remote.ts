/**
 * @module lodge remote add|list|remove: lodgeds on other machines, reached over HTTPS with a
 * token and the certificate fingerprint pinned at `add` (lodge --remote NAME COMMAND).
 */
import type { Command } from 'commander';
import { LodgeError } from '../../api/errors.js';
import { LodgeClient } from '../../client/index.js';
import { normalFingerprint, peerFingerprint } from '../../client/pinned-tls.js';
import { parseFormat, printJson, printTable } from '../output.js';
import { readRemotes, remotesFile, writeRemotes } from '../remotes.js';
import { secretFromStdin } from '../stdin-secret.js';

/** An https://HOST:PORT address, with nothing after it. */
function remoteUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LodgeError('BAD_REQUEST', `"${text}" is not a URL (https://HOST:PORT)`);
  }
  if (url.protocol !== 'https:') throw new LodgeError('BAD_REQUEST', `"${text}": a remote is reached over https only`);
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) throw new LodgeError('BAD_REQUEST', `"${text}": give the address alone, https://HOST:PORT`);
  return url;
}

export function register(program: Command): void {
  const remote = program.command('remote').description('manage remotes: lodgeds on other machines that lodge --remote NAME talks to over HTTPS');

  remote
    .command('add')
    .description("add a remote: its certificate's fingerprint is shown and pinned now, and checked at every connection after")
    .argument('<name>')
    .argument('<url>', 'https://HOST:PORT (lodged --listen on that machine)')
    .option('--token <token>', 'an API token made there (lodge token add NAME)')
    .option('--token-stdin', 'read the token from stdin instead (not on the command line, where ps and the history show it)')
    .option('--fingerprint <sha256>', "the certificate's SHA-256 fingerprint as lodge host shows it there: refuse any other instead of trusting the first one seen")
    .addHelpText('after', '\nExamples:\n  lodge remote add prod https://10.0.0.5:8443 --token lodge_...\n  printf %s "$TOKEN" | lodge remote add prod https://10.0.0.5:8443 --token-stdin\n  lodge --remote prod list\n  LODGE_REMOTE=prod lodge launch busybox web1')
    .action(async (name: string, address: string, flags: { token?: string; tokenStdin?: boolean; fingerprint?: string }) => {
      if ((flags.token === undefined) === (flags.tokenStdin !== true)) throw new LodgeError('BAD_REQUEST', 'give the token with --token TOKEN or --token-stdin (one of them)');
      const token = flags.token ?? (await secretFromStdin('--token-stdin', 'token'));
      if (!/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(name)) throw new LodgeError('BAD_REQUEST', `"${name}" is not a remote name (lowercase letters, digits, "_", "." and "-")`);
      const url = remoteUrl(address);
      const remotes = readRemotes();
      if (remotes[name]) throw new LodgeError('CONFLICT', `remote ${name} exists already (${remotes[name].url}): lodge remote remove ${name} first`);
      const fingerprint = await peerFingerprint(url.hostname.replace(/^\[|\]$/g, ''), Number(url.port || 443));
      if (flags.fingerprint && normalFingerprint(flags.fingerprint) !== fingerprint) {
        throw new LodgeError('CONFLICT', `${url.origin} offers a certificate with the fingerprint ${fingerprint}, not ${normalFingerprint(flags.fingerprint)}: not added`);
      }
      process.stderr.write(`${url.origin} offers a certificate with the SHA-256 fingerprint\n  ${fingerprint}\n${flags.fingerprint ? 'as given.' : 'Compare it with what lodge host shows on that machine; it is pinned from now on.'}\n`);
      // the token is tried over the pinned connection before anything is kept
      const target = { url: url.origin, token, fingerprint };
      const info = await new LodgeClient(target).host();
      writeRemotes({ ...readRemotes(), [name]: target });
      process.stderr.write(`remote ${name} added: lodged ${info.version} (instance ${info.instance}), kept in ${remotesFile()}\n`);
    });

  remote
    .command('list')
    .alias('ls')
    .description('list remotes')
    .option('--format <format>', 'table or json', 'table')
    .action((flags: { format: string }) => {
      const format = parseFormat(flags.format);
      const remotes = Object.entries(readRemotes()).map(([name, r]) => ({ name, url: r.url, fingerprint: r.fingerprint }));
      if (format === 'json') return printJson(remotes);
      printTable(['NAME', 'URL', 'FINGERPRINT (SHA-256)'], remotes.map((r) => [r.name, r.url, r.fingerprint]));
    });

  remote
    .command('remove')
    .alias('rm')
    .description('forget a remote (its token stays valid there: lodge token delete on that machine)')
    .argument('<name>')
    .action((name: string) => {
      const remotes = readRemotes();
      if (!remotes[name]) throw new LodgeError('NOT_FOUND', `no remote named ${name}`);
      delete remotes[name];
      writeRemotes(remotes);
      process.stderr.write(`remote ${name} forgotten\n`);
    });
}
