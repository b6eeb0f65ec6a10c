/**
 * @module The unprivileged host uid a guest's engine process runs as (UML, QEMU): one of
 * its own per guest, so that guests cannot signal or trace each other's processes.
 */
import { createHash } from 'node:crypto';

const uidBase = 1_200_000;
const uidRange = 100_000;

export function guestUid(guestId: string): number {
  return uidBase + (createHash('sha256').update(guestId).digest().readUInt32LE(0) % uidRange);
}
