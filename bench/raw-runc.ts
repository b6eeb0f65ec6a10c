/**
 * @module The limit Lodge's containers are measured against: runc by hand on the image's
 * rootfs (read-only, as root, no user namespace), from one bundle in the benchmark's
 * directory. Its containers inherit no pipe of ours (a detached container holding one
 * would keep a synchronous spawn waiting): runc's errors go to a log file instead.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchContext } from './bench.js';

export interface RawRunc {
  bundle: string;
  /** Runs `runc ARGS` and throws with runc's own error when it fails. */
  (...args: string[]): void;
}

/** runc with its own state root under `dir`, a bundle whose process is `args`; its containers are removed at the end. */
export function rawRunc(ctx: BenchContext, dir: string, rootfs: string, args: string[]): RawRunc {
  const bundle = path.join(dir, 'raw-bundle');
  const root = path.join(dir, 'raw-runc');
  const log = path.join(dir, 'raw-runc.log');
  mkdirSync(bundle, { recursive: true });
  execFileSync('runc', ['spec'], { cwd: bundle });
  const spec = JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  spec.process.terminal = false;
  spec.process.args = args;
  spec.root = { path: rootfs, readonly: true };
  writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  const runc = (...a: string[]) => spawnSync('runc', ['--root', root, '--log', log, ...a], { stdio: 'ignore' }).status;
  ctx.defer(() => {
    if (existsSync(root)) for (const id of readdirSync(root)) runc('delete', '--force', id);
  });
  return Object.assign(
    (...a: string[]) => {
      if (runc(...a) !== 0) throw new Error(`runc ${a.join(' ')} failed: ${readFileSync(log, 'utf8').trim().split('\n').pop()}`);
    },
    { bundle },
  );
}
