/**
 * @module A TLS certificate of lodged's own, made with Debian's openssl CLI: a self-signed
 * P-256 certificate for ten years, named after the host's names and addresses (clients pin
 * its fingerprint, so the names serve browsers' warnings only). The key is written 0600 in
 * a 0700 directory, and both files land by rename: a crash leaves both or neither.
 */
import { chmod, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../lib/exec.js';

export async function makeSelfSignedCertificate(files: { cert: string; key: string }, subject: string, names: { dns: string[]; ips: string[] }): Promise<void> {
  const dir = path.dirname(files.cert);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const scratch = await mkdtemp(path.join(dir, '.new-'));
  try {
    const cert = path.join(scratch, 'cert.pem');
    const key = path.join(scratch, 'key.pem');
    const san = [...names.dns.map((n) => `DNS:${n}`), ...names.ips.map((a) => `IP:${a}`)].join(',');
    await run(
      ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-sha256', '-days', '3650', '-nodes', '-subj', `/CN=${subject}`, '-addext', `subjectAltName=${san}`, '-keyout', key, '-out', cert],
      { timeoutMs: 30_000 },
    ).catch((e: Error) => {
      throw new Error(`cannot make a certificate: ${e.message} (openssl is the Debian package openssl, which scripts/install-deps.sh installs)`, { cause: e });
    });
    await chmod(key, 0o600);
    await rename(key, files.key);
    await rename(cert, files.cert);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
