/**
 * @module CRIU on the host: whether it can checkpoint processes here, by its own check.
 * Debian's 3.17 fails on kernels past 6.13 (its vDSO parser), which is why it is probed
 * rather than assumed.
 */
import { run } from '../lib/exec.js';

/** Why CRIU cannot checkpoint on this host, or undefined when `criu check` passes. */
export async function criuUnavailable(): Promise<string | undefined> {
  const r = await run(['criu', 'check'], { allowFailure: true, timeoutMs: 30_000 }).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : { code: 1, stdout: '', stderr: e.message }));
  if (!r) return 'criu is missing: install the Debian package criu';
  if (r.code === 0) return undefined;
  // its first error says what it tripped on: "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds"
  const first = `${r.stderr}\n${r.stdout}`.split('\n').find((l) => l.startsWith('Error'));
  return `criu check fails on this host (${first ? first.replace(/^Error \([^)]*\):\s*/, '') : `exit ${r.code}`})`;
}
