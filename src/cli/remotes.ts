/**
 * @module The remotes of this user's CLI: lodgeds on other machines, each with its HTTPS
 * address, a token and the certificate fingerprint pinned when it was added. They live in
 * $XDG_CONFIG_HOME/lodge/remotes.json (~/.config/lodge), 0600 in a 0700 directory, as
 * they hold tokens; the file is replaced whole, by rename, at each change.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LodgeError } from '../api/errors.js';
import type { RemoteTarget } from '../client/http.js';

export type Remotes = Record<string, RemoteTarget>;

export function remotesFile(env: NodeJS.ProcessEnv = process.env): string {
  const config = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(config, 'lodge', 'remotes.json');
}

export function readRemotes(file = remotesFile()): Remotes {
  if (!existsSync(file)) return {};
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { remotes?: Remotes };
    return parsed.remotes ?? {};
  } catch (e) {
    throw new LodgeError('BAD_REQUEST', `${file} is not valid JSON: fix or remove it`, { cause: e });
  }
}

export function writeRemotes(remotes: Remotes, file = remotesFile()): void {
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ remotes }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** The remote a command is for, by name. */
export function remoteNamed(name: string, file = remotesFile()): RemoteTarget {
  const r = readRemotes(file)[name];
  if (!r) throw new LodgeError('NOT_FOUND', `no remote named ${name} in ${file} (lodge remote list; lodge remote add ${name} https://HOST:PORT --token TOKEN)`);
  return r;
}
