/**
 * @module The kernels of vm guests: Debian's cloud kernel (virtio drivers only: small and
 * quick to boot) and, for the legacy device profile, Debian's generic kernel (AHCI, e1000),
 * each fetched as a package with apt-get download (from the mirror apt already uses) and
 * unpacked once into a cache shared by every lodged; never installed on the host.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { LodgeError } from '../api/errors.js';
import { run } from '../lib/exec.js';

export interface VmKernel {
  version: string;
  vmlinuz: string;
  modulesDir: string;
}

export type KernelFlavour = 'cloud-amd64' | 'amd64';

/** The versioned package the meta package depends on today, e.g. linux-image-6.1.0-56-cloud-amd64. */
async function kernelPackage(flavour: KernelFlavour): Promise<string> {
  const meta = `linux-image-${flavour}`;
  const { stdout } = await run(['apt-cache', 'depends', meta], { allowFailure: true });
  const name = new RegExp(`Depends: (linux-image-[0-9]\\S*[0-9]-${flavour})$`, 'm').exec(stdout)?.[1];
  if (!name) throw new LodgeError('UNAVAILABLE', `apt knows no ${meta}: run apt-get update (the Debian package index is needed to fetch the vm kernel)`);
  return name;
}

export async function ensureVmKernel(cacheDir: string, flavour: KernelFlavour): Promise<VmKernel> {
  const pkg = await kernelPackage(flavour);
  const version = pkg.replace(/^linux-image-/, '');
  const dir = path.join(cacheDir, version);
  const kernel = (): VmKernel => ({ version, vmlinuz: path.join(dir, 'boot', `vmlinuz-${version}`), modulesDir: path.join(dir, 'lib', 'modules', version) });
  if (existsSync(kernel().vmlinuz)) return kernel();
  await mkdir(cacheDir, { recursive: true });
  const tmp = await mkdtemp(path.join(cacheDir, 'fetch-'));
  try {
    await run(['apt-get', 'download', pkg], { cwd: tmp, timeoutMs: 600_000 });
    const deb = (await readdir(tmp)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new LodgeError('ENGINE_FAILED', `apt-get download ${pkg} left no package`);
    await run(['dpkg-deb', '-x', path.join(tmp, deb), path.join(tmp, 'x')], { timeoutMs: 300_000 });
    // another lodged sharing the cache may have unpacked it meanwhile
    if (!existsSync(kernel().vmlinuz)) {
      await rm(dir, { recursive: true, force: true });
      await rename(path.join(tmp, 'x'), dir);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return kernel();
}
