/**
 * @module `--wait`: after a start, until the guest answers exec (a `true` run through its
 * kind's channel: at once in a container, through lodge-agent or the QEMU guest agent once
 * the guest has booted), with the seconds counted on a terminal.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LodgeError } from '../api/errors.js';
import type { LodgeClient } from '../client/index.js';

/** Resolves once `name` runs a command; an agent that has not answered within `timeoutSeconds` fails with its last reason. */
export async function waitUntilReady(client: LodgeClient, name: string, timeoutSeconds: number): Promise<void> {
  const t0 = Date.now();
  const tty = process.stderr.isTTY;
  for (let last: LodgeError | undefined; ; await sleep(1000)) {
    const waited = Math.round((Date.now() - t0) / 1000);
    if (waited >= timeoutSeconds) throw new LodgeError('UNAVAILABLE', `${name} did not answer exec within ${timeoutSeconds} s${last ? `: ${last.message}` : ''}`);
    if (tty) process.stderr.write(`\rWaiting for ${name} to answer exec: ${waited} s`);
    try {
      // a guest without `true` (127) still answers: its agent ran the command
      await client.guests.exec(name, { command: ['true'] });
      if (tty) process.stderr.write('\r\x1b[K');
      return;
    } catch (e) {
      // the agent is not up yet (UNAVAILABLE), or its channel broke while the guest booted (ENGINE_FAILED): try again
      if (!(e instanceof LodgeError) || (e.code !== 'UNAVAILABLE' && e.code !== 'ENGINE_FAILED')) throw e;
      last = e;
    }
  }
}

/** --wait-timeout, in seconds. */
export function waitTimeout(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new LodgeError('BAD_REQUEST', `--wait-timeout: "${value}" is not a whole number of seconds of at least 1`);
  return n;
}
