/**
 * @module The initramfs of vm guests: busybox and the few kernel modules that reach the
 * root disk (virtio-blk, or AHCI for the legacy profile); its /init loads them, mounts
 * the disk named by LODGE_ROOT and hands over to the image's own init with switch_root.
 * With LODGE_ROOT=initramfs the root filesystem came as a second archive (a live ISO)
 * and init runs in place. Module dependencies come from each module's .modinfo (the
 * kernel package ships no modules.dep).
 */
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { cpioArchive, type CpioEntry } from './cpio.js';

/** The modules a vm's root disk needs, with what they depend on, dependencies first. */
export function loadOrder(wanted: readonly string[], dependsOf: (name: string) => string[]): string[] {
  const order: string[] = [];
  const visit = (name: string, seen: Set<string>) => {
    if (order.includes(name)) return;
    if (seen.has(name)) throw new Error(`module dependency cycle at ${name}`);
    seen.add(name);
    for (const dep of dependsOf(name)) visit(dep, seen);
    order.push(name);
  };
  for (const name of wanted) visit(name, new Set());
  return order;
}

/** The `depends=` line of a module's .modinfo section. */
export function modinfoDepends(ko: Buffer): string[] {
  const at = ko.indexOf('\0depends=');
  if (at < 0) return [];
  const end = ko.indexOf(0, at + 1);
  return ko.subarray(at + 9, end).toString().split(',').filter(Boolean);
}

/** The kernel treats - and _ in module names alike. */
const moduleName = (name: string) => name.replaceAll('-', '_');

async function findModules(modulesDir: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.ko')) found.set(moduleName(e.name.slice(0, -3)), p);
    }
  };
  await walk(path.join(modulesDir, 'kernel'));
  return found;
}

const initScript = (modules: string[]) => `#!/bin/busybox sh
# lodge initramfs: load the disk drivers, mount the root disk, hand over to its init
/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs devtmpfs /dev
${modules.map((m) => `/bin/busybox insmod /lib/modules/${m}.ko`).join('\n')}
/bin/busybox umount /proc
[ "$LODGE_ROOT" = initramfs ] && exec "\${LODGE_INIT:-/sbin/init}"
root="\${LODGE_ROOT:-/dev/vda}"
for i in $(/bin/busybox seq 50); do [ -b "$root" ] && break; /bin/busybox sleep 0.1; done
/bin/busybox mount -t ext4 -o rw "$root" /newroot || { echo "lodge initramfs: cannot mount $root"; exec /bin/busybox sh; }
/bin/busybox mount --move /dev /newroot/dev
exec /bin/busybox switch_root /newroot "\${LODGE_INIT:-/sbin/init}"
`;

export async function buildInitramfs(modulesDir: string, busybox: string, wanted: readonly string[]): Promise<Buffer> {
  const modules = await findModules(modulesDir);
  const cache = new Map<string, Buffer>();
  const ko = async (name: string) => {
    const file = modules.get(moduleName(name));
    if (!file) throw new Error(`kernel module ${name} is not in ${modulesDir}`);
    if (!cache.has(name)) cache.set(name, await readFile(file));
    return cache.get(name)!;
  };
  // read every module once, then order them
  const deps = new Map<string, string[]>();
  const pending = [...wanted];
  while (pending.length) {
    const name = pending.pop()!;
    if (deps.has(name)) continue;
    const d = modinfoDepends(await ko(name)).map(moduleName);
    deps.set(name, d);
    pending.push(...d);
  }
  const order = loadOrder(wanted, (n) => deps.get(n) ?? []);
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'newroot', 'lib', 'lib/modules'].map((p) => ({ path: p, type: 'dir' as const })),
    { path: 'bin/busybox', type: 'file', data: await readFile(busybox), mode: 0o755 },
    { path: 'init', type: 'file', data: Buffer.from(initScript(order)), mode: 0o755 },
    ...(await Promise.all(order.map(async (m) => ({ path: `lib/modules/${m}.ko`, type: 'file' as const, data: await ko(m) })))),
  ];
  return gzipSync(cpioArchive(entries));
}

/** A directory tree as a gzipped initramfs archive, owners and all as root. */
export async function directoryArchive(dir: string): Promise<Buffer> {
  const entries: CpioEntry[] = [];
  const walk = async (rel: string) => {
    for (const name of (await readdir(path.join(dir, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(dir, r);
      const st = await lstat(p);
      if (st.isSymbolicLink()) entries.push({ path: r, type: 'symlink', target: await readlink(p) });
      else if (st.isDirectory()) {
        entries.push({ path: r, type: 'dir', mode: st.mode & 0o7777 });
        await walk(r);
      } else if (st.isFile()) entries.push({ path: r, type: 'file', data: await readFile(p), mode: st.mode & 0o7777 });
    }
  };
  await walk('');
  return gzipSync(cpioArchive(entries));
}
