/**
 * @module Mounts on the host: overlay roots for guests, and finding what is mounted
 * under a directory so that cleanup after a crash can be mechanical.
 */
import { readFile } from 'node:fs/promises';
import { run } from '../lib/exec.js';

export async function mountOverlay(lowers: readonly string[], upper: string, work: string, target: string): Promise<void> {
  // index=off and metacopy=off keep the lower layer shareable by many guests at once
  const options = `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work},index=off,metacopy=off`;
  await run(['mount', '-t', 'overlay', 'overlay', '-o', options, target]);
}

export async function unmount(target: string): Promise<void> {
  if (await isMounted(target)) await run(['umount', '--lazy', target]);
}

export async function isMounted(target: string): Promise<boolean> {
  return (await readMountPoints()).includes(target);
}

async function readMountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  // field 5 is the mount point, with spaces and the like written as octal escapes
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ')[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}
