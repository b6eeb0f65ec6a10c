/**
 * @module A command an exec could not start, told as a shell tells it, the same in every
 * kind: "command not found" and exit code 127, any other reason and 126.
 */

/** `cause` undefined: there is no such command; otherwise why it could not run. */
export function cannotRun(guest: string, command: string, cause?: string): { exitCode: number; message: string } {
  return cause === undefined
    ? { exitCode: 127, message: `lodge: ${command}: command not found in ${guest}\n` }
    : { exitCode: 126, message: `lodge: cannot run ${command} in ${guest}: ${cause}\n` };
}
