/**
 * @module A secret piped in on standard input (a password, a token), kept out of the command
 * line, where ps and the shell's history show it.
 */
import { LodgeError } from '../api/errors.js';

/** What stdin holds, its last newline dropped; `flag` names the option in the error when stdin is a terminal. */
export async function secretFromStdin(flag: string, what: string): Promise<string> {
  if (process.stdin.isTTY) throw new LodgeError('BAD_REQUEST', `${flag}: pipe the ${what} in (printf %s "$SECRET" | lodge ...)`);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString().replace(/\r?\n$/, '');
}
